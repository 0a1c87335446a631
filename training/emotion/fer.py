"""FER2013 loaders: the Kaggle folder layout and the original ``fer2013.csv``.

Both return a :class:`FerArrays`: every image as one uint8 array in memory
(28,709 faces of 48x48 are 66 MB), which is faster to augment in batches than
decoding JPEGs per sample on a 2-core machine.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from edge.crops import IMAGE_SUFFIXES
from edge.models.labels import FER2013_CLASSES

SIZE = 48


class DatasetError(ValueError):
    """The data set is missing, empty or laid out in a way we cannot read."""


@dataclass
class FerArrays:
    """Faces ``(N, 48, 48)`` uint8 and labels ``(N,)`` int64 indexing ``classes``."""

    images: np.ndarray
    labels: np.ndarray
    classes: Tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_counts(self) -> Dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts)}

    def subset(self, indices: np.ndarray) -> FerArrays:
        return FerArrays(self.images[indices], self.labels[indices], self.classes)


def _to_gray48(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            gray = img.convert("L")
            if gray.size != (SIZE, SIZE):
                gray = gray.resize((SIZE, SIZE), Image.BILINEAR)
            return np.asarray(gray, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"cannot read image {path}: {exc}. Remove or replace the file.") from exc


def load_folder(
    root: Path, classes: Sequence[str] = FER2013_CLASSES, limit_per_class: Optional[int] = None
) -> FerArrays:
    """Read ``root/<class>/*.jpg`` (Kaggle layout). Folder names are matched case-insensitively."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; expected {root}/<class>/*.jpg with classes {list(classes)}")
    folders = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    missing = [c for c in classes if c not in folders]
    if missing:
        raise DatasetError(
            f"{root} lacks class folders {missing}; found {sorted(folders)}. "
            f"Expected the Kaggle layout {root}/<class>/*.jpg"
        )
    images: List[np.ndarray] = []
    labels: List[int] = []
    for index, name in enumerate(classes):
        files = sorted(p for p in folders[name].iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if limit_per_class is not None:
            files = files[:limit_per_class]
        if not files:
            raise DatasetError(f"class folder {folders[name]} holds no images")
        images.extend(_to_gray48(p) for p in files)
        labels.extend([index] * len(files))
    return FerArrays(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(classes))


def load_csv(path: Path, usage: Sequence[str] = ("Training",), classes: Sequence[str] = FER2013_CLASSES) -> FerArrays:
    """Read the original ``fer2013.csv`` (``emotion,pixels,Usage``), keeping rows whose Usage is in ``usage``
    and whose label is in ``classes``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} does not exist")
    wanted = {FER2013_CLASSES.index(c): i for i, c in enumerate(classes)}
    images: List[np.ndarray] = []
    labels: List[int] = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        needed = {"emotion", "pixels"}
        if reader.fieldnames is None or not needed.issubset(reader.fieldnames):
            raise DatasetError(f"{path} must have columns emotion,pixels[,Usage]; found {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            if "Usage" in row and row["Usage"] is not None and row["Usage"] not in usage:
                continue
            try:
                original = int(row["emotion"])
                pixels = np.asarray(row["pixels"].split(), dtype=np.uint8)
            except ValueError as exc:
                raise DatasetError(f"{path}:{line}: bad row ({exc})") from exc
            if pixels.size != SIZE * SIZE:
                raise DatasetError(f"{path}:{line}: expected {SIZE * SIZE} pixels, got {pixels.size}")
            if original not in wanted:
                continue
            images.append(pixels.reshape(SIZE, SIZE))
            labels.append(wanted[original])
    if not images:
        raise DatasetError(f"{path} has no rows with Usage in {list(usage)} and a label in {list(classes)}")
    data = FerArrays(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(classes))
    empty = [c for c, n in data.class_counts().items() if n == 0]
    if empty:
        raise DatasetError(f"{path}: classes {empty} have no rows")
    return data


def load_fer(source: Path, classes: Sequence[str] = FER2013_CLASSES, usage: Sequence[str] = ("Training",)) -> FerArrays:
    """A folder in the Kaggle layout, or a ``fer2013.csv`` file."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".csv":
        return load_csv(source, usage=usage, classes=classes)
    return load_folder(source, classes=classes)
