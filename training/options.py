"""What every group of training commands shares: the data-set defaults and how a command writes its results."""

from __future__ import annotations

import json
from pathlib import Path

from edge.datasets import data_path

# Defaults for the data sets the repository does not ship (edge.datasets: $EDGE_DATA, else datasets/).
FER_TRAIN = str(data_path("data/fer2013/train"))
FER_VAL = str(data_path("data/fer2013/val"))


def write_json(path: Path, data: object) -> None:
    """Write a command's results, creating its folder (a fresh clone has no runs/)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
