import io
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import FER
from training.emotion.evaluate import evaluate_emotion
from training.emotion.fer import load_fer, load_folder
from training.emotion.fer_duplicates import training_copies


def _jpeg(face: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))


def test_copies_are_found_through_reencoding_and_brightness_but_not_other_faces(fer_small):
    faces = load_folder(fer_small).images
    train, rest = faces[:40], faces[40:]
    brighter = np.clip(train[3].astype(np.int16) * 0.8 + 30, 0, 255).astype(np.uint8)
    test = np.stack([train[0], _jpeg(train[1], 70), brighter, *rest[:5], np.full((48, 48), 128, np.uint8)])

    mask = training_copies(test, train)

    assert mask.tolist() == [True, True, True] + [False] * 5 + [False]  # a flat gray face matches nothing
    assert not training_copies(test, np.full((1, 48, 48), 128, np.uint8)).any()
    assert training_copies(test[:0], train).shape == (0,)


def test_publictest_holds_300_copies_of_training_faces(shared):
    train = load_fer(FER / "train").images
    public = load_fer(FER / "val").images

    assert training_copies(public, train).sum() == 300
    assert training_copies(public, train, threshold=0.999).sum() == 287


def test_evaluation_reports_accuracy_without_the_copies(fer_small, tmp_path):
    train = tmp_path / "train"
    for i, cls_dir in enumerate(sorted(fer_small.iterdir())):
        (train / cls_dir.name).mkdir(parents=True)
        face = sorted(cls_dir.iterdir())[0]
        if i < 4:  # this face is also a training face
            shutil.copy(face, train / cls_dir.name / face.name)
        else:  # every class needs a training face: a turned one is no copy
            Image.open(face).convert("L").rotate(90).save(train / cls_dir.name / face.name)

    report = evaluate_emotion(str(fer_small), None, tta="flip", train=str(train))

    split = report["without_training_copies"]
    assert split["copies"] == 4 and split["faces"] == 80
    whole = (split["accuracy"] * 80 + split["accuracy_on_copies"] * 4) / 84
    assert whole == pytest.approx(report["accuracy"])
