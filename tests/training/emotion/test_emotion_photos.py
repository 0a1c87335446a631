"""Emotion on labelled photos through the service's detector, crop and classifier."""

import json

import pytest

from tests.conftest import FACES, ROOT
from training.emotion.photos import evaluate_emotion_photos, read_legend, sample_per_class


@pytest.fixture
def labelled(tmp_path, shared):
    images = tmp_path / "images"
    images.mkdir()
    rows = ["user.id,image,emotion"]
    for i, photo in enumerate(sorted((FACES / "people").glob("*/*"))):
        (images / f"p{i}.jpg").write_bytes(photo.read_bytes())
        rows.append(f"1,p{i}.jpg,{'happiness' if i % 2 else 'NEUTRAL'}")
    (images / "broken.jpg").write_bytes(b"not a jpeg")
    rows += ["1,broken.jpg,sadness", "1,p0.jpg,contempt"]  # contempt: no such class, skipped
    legend = tmp_path / "legend.csv"
    legend.write_text("\n".join(rows) + "\n")
    return legend, images


def test_legend_rows_map_onto_the_models_classes(labelled):
    legend, _ = labelled
    rows = read_legend(legend, ["angry", "happy", "sad", "neutral"])
    assert ("broken.jpg", "sad") in rows and all(label != "contempt" for _, label in rows)
    assert len(sample_per_class(rows, 2)) == 5  # 2 happy, 2 neutral, 1 sad
    with pytest.raises(ValueError, match="no rows"):
        read_legend(legend, ["disgust"])


def test_report_through_the_service_path(labelled, tmp_path):
    legend, images = labelled
    report = evaluate_emotion_photos(legend, images, tmp_path / "out", per_class=10, models=ROOT / "models")
    assert report["skipped"] == {"unreadable": 1}
    assert report["photos_scored"] == 7 == sum(map(sum, report["confusion_matrix"]))
    assert report["per_class"]["happy"]["support"] == 3 and report["per_class"]["neutral"]["support"] == 4
    assert 0 <= report["uncertain_share"] <= 1 and abs(sum(report["labels_predicted"].values()) - 1) < 0.01
    assert json.loads((tmp_path / "out" / "report.json").read_text())["photos_scored"] == 7
    assert (tmp_path / "out" / "confusion.png").stat().st_size > 1000


def test_several_models_are_compared_on_the_same_faces_from_the_command_line(labelled, tmp_path, capsys):
    """One detector pass serves every models folder; each gets its own report, with its folder in it."""
    from training.cli import main as training_main

    legend, images = labelled
    models = str(ROOT / "models")
    out = tmp_path / "cmp"
    args = ["evaluate-emotion-photos", "--legend", str(legend), "--images", str(images), "--per-class", "10"]
    assert training_main(args + ["--models", models, "--models", models, "--out", str(out)]) == 0
    first, second = (json.loads((out / f"{i}-models" / "report.json").read_text()) for i in (0, 1))
    assert first["photos_scored"] == second["photos_scored"] == 7 and first["skipped"] == {"unreadable": 1}
    assert first["confusion_matrix"] == second["confusion_matrix"] and first["models"] == models
    assert capsys.readouterr().out.count("photos scored") == 2
