import shutil

import numpy as np
import pytest

from tests.conftest import FACES
from training.identity.evaluate import Probe, open_set_scores
from training.identity.pair_groups import group_pairs, write_person_folders


def test_yes_pairs_join_people_and_no_pairs_keep_them_apart():
    rows = [("a.jpg", "b.jpg", "Yes"), ("b.jpg", "c.jpg", "Yes"), ("d.jpg", "e.jpg", "Yes"), ("a.jpg", "d.jpg", "No")]
    assert group_pairs(rows) == [["a.jpg", "b.jpg", "c.jpg"], ["d.jpg", "e.jpg"]]
    with pytest.raises(ValueError, match="different people"):
        group_pairs(rows + [("c.jpg", "a.jpg", "No")])


def test_person_folders_from_real_photos(tmp_path, shared):
    images = tmp_path / "images"
    images.mkdir()
    obama = sorted((FACES / "people" / "barack_obama").iterdir())
    for p in obama + [next((FACES / "people" / "joe_biden").iterdir())]:
        shutil.copy(p, images / p.name)
    csv = tmp_path / "pairs.csv"
    biden = next((FACES / "people" / "joe_biden").iterdir()).name
    csv.write_text(f"file_x,file_y,Decision\n{obama[0].name},{obama[1].name},Yes\nsub/{obama[0].name},{biden},No\n")
    counts = write_person_folders([csv], images, tmp_path / "people")
    assert counts == {"person_00": 2, "person_01": 1}
    assert sorted(p.name for p in (tmp_path / "people" / "person_00").iterdir()) == [p.name for p in obama]
    csv.write_text("file_x,file_y,Decision\nmissing.jpg,other.jpg,Yes\n")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        write_person_folders([csv], images, tmp_path / "again")


def test_open_set_scores_never_name_faces_below_the_size_gate():
    def probe(person, vec, px=100.0):
        return Probe(person, person, vec, px)

    a, b = [1.0, 0.0], [0.0, 1.0]
    people = {
        "ann": [probe("ann", np.array(a)), probe("ann", np.array([0.99, 0.141])), probe("ann", np.array(a), px=20)],
        "bob": [probe("bob", np.array(b)), probe("bob", np.array(b))],
        "eve": [probe("eve", np.array([0.98, 0.199]), px=20)],  # a stranger who looks like ann, far away
    }
    genuine, right, strangers = open_set_scores(people, enroll=1, min_face_px=0)
    assert right.all() and strangers.max() > 0.95
    genuine, right, strangers = open_set_scores(people, enroll=1, min_face_px=50)
    assert sorted(genuine.round(2).tolist()) == [-1.0, 0.99, 1.0]  # the small ann photo is never named
    assert -1.0 in strangers.tolist() and strangers[0] == -1.0  # eve (small) is never a false accept


def test_open_set_scores_skip_low_quality_faces_like_small_ones():
    a = np.array([1.0, 0.0])
    people = {
        "ann": [Probe("ann", "1", a, 100, quality=0.9), Probe("ann", "2", a, 100, quality=0.05)],
        "eve": [Probe("eve", "3", np.array([0.98, 0.199]), 100, quality=0.05)],
    }
    genuine, _, strangers = open_set_scores(people, enroll=1, min_quality=0.1)
    assert genuine.tolist() == [-1.0] and (strangers == -1.0).all()  # neither blurred face is named
    genuine, _, strangers = open_set_scores(people, enroll=1, min_quality=0.0)
    assert genuine.tolist() == [1.0] and strangers.max() > 0.95
