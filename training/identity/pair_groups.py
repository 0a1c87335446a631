"""Turn a face-verification pair list into one folder per person, for `evaluate-identity`.

Public face sets often come as pairs (``file_x,file_y,Decision`` with Yes/No),
as in deepface's unit-test photos. Photos linked by "Yes" pairs are one person
(connected components); a "No" pair inside a component means the list
contradicts itself, which is an error rather than a guess.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Dict, List, Sequence


def group_pairs(rows: Sequence[Sequence[str]]) -> List[List[str]]:
    """Groups of file names from ``(file_x, file_y, decision)`` rows, largest group first."""
    parent: Dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, decision in rows:
        ra, rb = root(a), root(b)
        if decision.strip().lower() in ("yes", "1", "true", "same"):
            parent[ra] = rb
    for a, b, decision in rows:
        if decision.strip().lower() in ("no", "0", "false", "different") and root(a) == root(b):
            raise ValueError(f"the pair list says {a} and {b} are different people, but 'yes' pairs link them")
    groups: Dict[str, List[str]] = {}
    for name in parent:
        groups.setdefault(root(name), []).append(name)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))


def read_pair_csv(path: Path) -> List[List[str]]:
    """Rows of a CSV whose first three columns are file, file, decision (header skipped); names reduced to
    their base name so lists that spell folders differently agree."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or len(rows[0]) < 3:
        raise ValueError(f"{path}: expected a header and rows 'file_x,file_y,decision'")
    return [[Path(r[0]).name, Path(r[1]).name, r[2]] for r in rows[1:] if len(r) >= 3]


def write_person_folders(pair_csvs: Sequence[Path], images: Path, out: Path) -> Dict[str, int]:
    """Copy ``images/<file>`` into ``out/person_NN/``; returns photos per folder."""
    rows = [row for p in pair_csvs for row in read_pair_csv(Path(p))]
    counts: Dict[str, int] = {}
    for n, group in enumerate(group_pairs(rows)):
        folder = Path(out) / f"person_{n:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in group:
            src = Path(images) / name
            if not src.is_file():
                raise FileNotFoundError(f"{src} is named in the pair list but missing")
            shutil.copy2(src, folder / name)
        counts[folder.name] = len(group)
    return counts
