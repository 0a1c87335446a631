"""Command line of the training side: each group (emotion, identity, convert) registers its own subcommands."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from training.convert.commands import COMMANDS as CONVERT
from training.emotion.commands import COMMANDS as EMOTION
from training.identity.commands import COMMANDS as IDENTITY

COMMANDS = {**EMOTION, **IDENTITY, **CONVERT}


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
