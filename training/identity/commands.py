"""The identity commands: train the closed-set head, evaluate and calibrate open-set rates, build person folders.

Each command is a pair: the function that adds its parser, the one that runs it (``training.cli`` registers them)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.datasets import data_path
from training.options import write_json


def _embedder(models: str, kind: str = "auto"):
    from edge.identity.embedders import load_embedder
    from edge.manifest import ModelManifest

    return load_embedder(ModelManifest(Path(models)), kind, backend="auto")


def _add_calibrate_identity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate-identity", help="open-set folds on lfw_calib: scoring rules, DET curves, threshold")
    p.add_argument("--data", default=str(data_path("data/faces/lfw_calib")), help="<person>/<photos> folders")
    p.add_argument("--models", default="models")
    p.add_argument("--out", default="models/identity", help="folder for det.png, calibration.json, embeddings")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--enroll", type=int, default=3)
    p.add_argument(
        "--max-far", type=float, default=0.01, help="most strangers that may be named (per fold: 120 enrolled)"
    )
    p.add_argument("--write", action="store_true", help="ship the threshold in the manifest's embedder entry")
    p.add_argument(
        "--embedder",
        action="append",
        choices=("auto", "vggface2", "faceapi", "faceres", "mobileface"),
        help="the network to calibrate (default auto, as the service chooses); repeat it to compare networks and "
        "their score fusions instead (comparison.json, det.png; strangers limit --max-far)",
    )


def _run_calibrate_identity(args: argparse.Namespace) -> int:
    from training.identity.calibration import calibrate_identity, candidate_rows, compare_embedders, comparison_rows

    if args.embedder and len(args.embedder) > 1:
        if args.write:
            raise SystemExit("--write ships one network's threshold: give one --embedder")
        embedders = [_embedder(args.models, kind) for kind in args.embedder]
        rows = compare_embedders(Path(args.data), embedders, Path(args.out), args.folds, args.enroll, args.max_far)
        print("\n".join(comparison_rows(rows)))
        return 0
    report = calibrate_identity(
        Path(args.data),
        _embedder(args.models, (args.embedder or ["auto"])[0]),
        Path(args.out),
        args.folds,
        args.enroll,
        args.max_far,
        Path(args.models) / "manifest.json" if args.write else None,
    )
    print("\n".join(candidate_rows(report)))
    return 0


def _add_extract_faces(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract-faces", help="cut tracked faces out of a video, one folder per track")
    p.add_argument("video")
    p.add_argument("--out", required=True)
    p.add_argument("--every", type=int, default=5, help="look at every Nth frame")
    p.add_argument("--min-face", type=int, default=40, help="smallest face side in pixels")
    p.add_argument("--models", default="models")


def _run_extract_faces(args: argparse.Namespace) -> int:
    from training.identity.extract_faces import extract_faces

    counts = extract_faces(Path(args.video), Path(args.out), _embedder(args.models), args.every, args.min_face)
    print(json.dumps(counts, indent=2))
    return 0


def _add_identity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("identity", help="train the closed-set identity head on <DATA>/<person>/<photos>")
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="models/identity_head.pt")
    p.add_argument("--copies", type=int, default=10, help="augmented copies per photo")
    p.add_argument("--threshold", type=float, default=0.7, help="softmax confidence under which a face is unknown")
    p.add_argument("--models", default="models")


def _run_identity(args: argparse.Namespace) -> int:
    from training.identity.head import train_identity_head

    result = train_identity_head(Path(args.data), Path(args.out), _embedder(args.models), args.copies, args.threshold)
    print(json.dumps(result, indent=2))
    print(f"use it with EDGE_IDENTITY__HEAD={args.out}")
    return 0


def _add_group_pairs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("group-pairs", help="face-verification pair lists -> one folder per person")
    p.add_argument("pairs", nargs="+", help="CSV files: file_x,file_y,decision (Yes/No)")
    p.add_argument("--images", required=True, help="folder holding the photos the pairs name")
    p.add_argument("--out", required=True)


def _run_group_pairs(args: argparse.Namespace) -> int:
    from training.identity.pair_groups import write_person_folders

    counts = write_person_folders([Path(p) for p in args.pairs], Path(args.images), Path(args.out))
    print(json.dumps(counts, indent=2))
    return 0


def _add_evaluate_identity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-identity", help="open-set identity rates on folders <root>/<person>/<photos>")
    p.add_argument("roots", nargs="+")
    p.add_argument("--enroll", type=int, default=3, help="photos enrolled per person (the rest are probes)")
    p.add_argument("--models", default="models")
    p.add_argument("--out", help="write the full report (with the threshold sweep) here as JSON")
    p.add_argument(
        "--min-face-px",
        type=float,
        default=None,
        help="faces narrower than this are never named, as in the service (default: identity.min_face_px)",
    )
    p.add_argument(
        "--min-quality",
        type=float,
        default=0.0,
        help="faces of lower quality (edge.identity.quality) are neither enrolled nor named (default 0: all)",
    )


def _run_evaluate_identity(args: argparse.Namespace) -> int:
    from edge.config import IdentityConfig
    from training.identity.evaluate import evaluate_identity

    min_face_px = IdentityConfig().min_face_px if args.min_face_px is None else args.min_face_px
    report = evaluate_identity(
        [Path(r) for r in args.roots], _embedder(args.models), args.enroll, min_face_px, args.min_quality
    )
    if args.out:
        write_json(Path(args.out), report)
    keys = ("embedder", "min_face_px", "min_quality", "people", "genuine_probes", "stranger_probes")
    summary = {k: report[k] for k in keys}
    summary["gallery_at_default_threshold"] = report["at_default_threshold"]
    summary["head_at_0.7"] = report["head_at_0.7"]
    print(json.dumps(summary, indent=2))
    return 0


COMMANDS = {
    "extract-faces": (_add_extract_faces, _run_extract_faces),
    "evaluate-identity": (_add_evaluate_identity, _run_evaluate_identity),
    "group-pairs": (_add_group_pairs, _run_group_pairs),
    "identity": (_add_identity, _run_identity),
    "calibrate-identity": (_add_calibrate_identity, _run_calibrate_identity),
}
