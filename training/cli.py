"""Command line of the training side."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import List, Optional


def _add_emotion(sub: argparse._SubParsersAction) -> None:
    from training.emotion import EmotionTrainConfig

    d = EmotionTrainConfig(train="", val="")
    p = sub.add_parser("emotion", help="train the ResNet9 emotion network on FER2013")
    p.add_argument("--train", required=True, help="Kaggle-layout folder or fer2013.csv")
    p.add_argument("--val", required=True, help="Kaggle-layout folder or fer2013.csv (PublicTest rows)")
    p.add_argument("--out", default=d.out, help="run folder: checkpoints, metrics.json, PNG plots")
    p.add_argument("--classes", default=d.classes, choices=["fer7", "fer5"])
    p.add_argument("--width", type=int, default=d.width, help="base width: 128 = original network, 32 for CPUs")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--optimizer", default=d.optimizer, choices=["sgd", "adam"])
    p.add_argument("--max-lr", type=float, default=d.max_lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--grad-clip", type=float, default=d.grad_clip)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:1")
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--limit-per-class", type=int, default=None, help="use at most N faces per class (smoke runs)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")


def _run_emotion(args: argparse.Namespace) -> int:
    from training.emotion import EmotionTrainConfig, train_emotion

    fields = EmotionTrainConfig.__dataclass_fields__
    cfg = EmotionTrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    metrics = train_emotion(cfg, resume=args.resume)
    print(json.dumps({"best_val_acc": metrics["best_val_acc"], "out": cfg.out}))
    return 0


def _add_evaluate_emotion(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-emotion", help="accuracy, per-class P/R/F1 and confusion matrix on a labelled set")
    p.add_argument("--data", required=True, help="Kaggle-layout folder or fer2013.csv")
    p.add_argument("--model", default=None, help="weights file; default: the shipped emotion model")
    p.add_argument("--usage", default="PrivateTest", help="Usage rows to read when --data is a CSV")
    p.add_argument("--out", default=None, help="folder for report.json and confusion.png")
    p.add_argument("--no-tta", action="store_true", help="score single faces, without the flip average")


def _run_evaluate_emotion(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_emotion

    report = evaluate_emotion(args.data, args.model, usage=args.usage, out=args.out, tta=not args.no_tta)
    print(json.dumps(report, indent=2))
    return 0


COMMANDS = {
    "emotion": (_add_emotion, _run_emotion),
    "evaluate-emotion": (_add_evaluate_emotion, _run_evaluate_emotion),
}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command][1](args)
    except ValueError as exc:  # DatasetError and bad options: one clear line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
