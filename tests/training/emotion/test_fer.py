import csv

import numpy as np
import pytest
from PIL import Image

from edge.models.labels import FER2013_5_CLASSES, FER2013_CLASSES
from training.emotion.fer import DatasetError, load_csv, load_fer, load_folder


def test_folder_layout_loads_real_faces(fer_small):
    data = load_folder(fer_small)
    assert data.images.shape == (84, 48, 48) and data.images.dtype == np.uint8
    assert data.class_counts() == {c: 12 for c in FER2013_CLASSES}
    five = load_folder(fer_small, classes=FER2013_5_CLASSES)
    assert len(five) == 60 and five.classes == FER2013_5_CLASSES


def test_csv_layout_matches_the_folder_layout(fer_small, tmp_path):
    folder = load_folder(fer_small)
    path = tmp_path / "fer2013.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for img, label in zip(folder.images, folder.labels):
            w.writerow([int(label), " ".join(map(str, img.reshape(-1))), "Training"])
        w.writerow([3, " ".join(["0"] * 2304), "PublicTest"])
    data = load_fer(path)
    assert np.array_equal(data.images, folder.images) and np.array_equal(data.labels, folder.labels)
    assert len(load_csv(path, usage=("PublicTest",), classes=FER2013_CLASSES[3:4])) == 1
    five = load_csv(path, classes=FER2013_5_CLASSES)
    assert five.class_counts() == {c: 12 for c in FER2013_5_CLASSES}


def test_wrong_layouts_are_explained(fer_small, tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        load_folder(tmp_path / "nope")
    (fer_small / "disgust").rename(fer_small / "other")
    with pytest.raises(DatasetError, match="lacks class folders \\['disgust'\\]"):
        load_folder(fer_small)
    (fer_small / "other").rename(fer_small / "disgust")
    for p in (fer_small / "fear").iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match="holds no images"):
        load_folder(fer_small)
    Image.new("L", (48, 48)).save(fer_small / "fear" / "ok.jpg")
    (fer_small / "fear" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="broken.jpg"):
        load_folder(fer_small)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("label,data\n1,2\n")
    with pytest.raises(DatasetError, match="columns"):
        load_csv(bad_csv)
    short = tmp_path / "short.csv"
    short.write_text("emotion,pixels,Usage\n1,1 2 3,Training\n")
    with pytest.raises(DatasetError, match="expected 2304 pixels"):
        load_csv(short)
