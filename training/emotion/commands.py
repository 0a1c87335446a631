"""The emotion commands: train, evaluate, calibrate, ship, quantize, publish, the 5-class cut, photos.

Each command is a pair: the function that adds its parser, the one that runs it (``training.cli`` registers them)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.config import TTA_MODES
from training.options import FER_TRAIN, FER_VAL


def _add_emotion(sub: argparse._SubParsersAction) -> None:
    from edge.models.emotion_net import ARCHITECTURES
    from training.emotion.augment import MIX_MODES
    from training.emotion.train import EmotionTrainConfig

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
    from training.emotion.train import EmotionTrainConfig, train_emotion

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
    p.add_argument("--name", default="emotion", help="the shipped manifest entry to score without --model: emotion5")
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
    from training.emotion.evaluate import evaluate_emotion

    report = evaluate_emotion(
        args.data, args.model, usage=args.usage, out=args.out, tta=args.tta, train=args.train, name=args.name
    )
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
    from training.emotion.calibrate import calibrate_emotion, check_calibration

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


def _add_derive_emotion5(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("derive-emotion5", help="the 5-class model (angry, happy, sad, surprise, neutral) + manifest")
    p.add_argument("--models", default="models")
    p.add_argument("--val", default=FER_VAL, help="Kaggle-layout PublicTest faces")
    p.add_argument("--train", default=FER_TRAIN, help="faces to quantize the INT8 network with")
    _add_skip_demo(p)


def _run_derive_emotion5(args: argparse.Namespace) -> int:
    from training.emotion.five_class import derive_five_class

    entry = derive_five_class(Path(args.models), Path(args.val), Path(args.train), demo=not args.skip_demo)
    print(json.dumps(entry["metrics"], indent=2))
    return 0


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
    from training.emotion.ship import ship_emotion

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
    from training.emotion.quantize import quantize_emotion

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
    from training.emotion.ship import publish_emotion

    print(publish_emotion(Path(args.run), Path(args.out), args.url, args.tta, args.int8_url, not args.skip_demo))
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
    from training.emotion.photos import compare_emotion_photos, summary

    out = Path(args.out or f"runs/emotion-photos-{args.name}")
    models = [Path(m) for m in args.models or ["models"]]
    outs = [out] if len(models) == 1 else [out / f"{i}-{m.resolve().name}" for i, m in enumerate(models)]
    reports = compare_emotion_photos(Path(args.legend), Path(args.images), outs, args.per_class, models, args.name)
    for folder, report in zip(models, reports):
        print(f"{folder}:\n{summary(report)}")
    return 0


COMMANDS = {
    "ship-emotion": (_add_ship_emotion, _run_ship_emotion),
    "publish-emotion": (_add_publish_emotion, _run_publish_emotion),
    "quantize-emotion": (_add_quantize_emotion, _run_quantize_emotion),
    "emotion": (_add_emotion, _run_emotion),
    "evaluate-emotion": (_add_evaluate_emotion, _run_evaluate_emotion),
    "evaluate-emotion-photos": (_add_evaluate_emotion_photos, _run_evaluate_emotion_photos),
    "calibrate-emotion": (_add_calibrate_emotion, _run_calibrate_emotion),
    "derive-emotion5": (_add_derive_emotion5, _run_derive_emotion5),
}
