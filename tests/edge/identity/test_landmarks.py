"""The NumPy 5-point landmark predictor agrees with dlib's, and chips cut on its points match dlib's chips."""

import cv2
import numpy as np
import pytest

from edge.detection import FaceDetector
from edge.identity.align import align_chip
from edge.identity.embedders import FaceDescriptorEmbedder, load_landmarks
from edge.identity.landmarks import DLIB5_CHIP_150, LANDMARKS, FaceLandmarks5
from edge.manifest import ModelError, ModelManifest
from tests.conftest import FACES, ROOT, SHARED

dlib = pytest.importorskip("dlib", reason="dlib-bin (test extra) runs the reference predictor")


@pytest.fixture(scope="module")
def reference():
    return dlib.shape_predictor(str(SHARED / "weights" / "dlib" / "shape_predictor_5_face_landmarks.dat"))


@pytest.fixture(scope="module")
def predictor():
    return load_landmarks(ModelManifest(ROOT / "models"))


def photos():
    paths = sorted((FACES / "lfw_calib").glob("*/*.jpg"))[::12] + sorted((FACES / "people").glob("*/*"))
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]


def test_points_match_dlib_on_the_same_boxes(shared, reference, predictor):
    detector = dlib.get_frontal_face_detector()
    errors = []
    for rgb in photos():
        for r in detector(rgb, 1):
            ref = np.array([[p.x, p.y] for p in reference(rgb, r).parts()], float)
            box = np.array([r.left(), r.top(), r.right(), r.bottom()], float)
            # Pixels, scaled to a 100 px face: on faces of 500-1000 px the points differ by 1-1.3 px.
            errors.append(np.abs(predictor.points(rgb, box) - ref).max() * min(1.0, 100 / r.width()))
            # A gray image gives the same points: dlib reads the mean of R, G and B.
            gray = (rgb.astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)
            assert np.allclose(predictor.points(gray, box), predictor.points(rgb, box))
    assert len(errors) >= 60
    # dlib rounds its points to whole pixels: up to 0.5 px of the difference is that rounding.
    assert max(errors) < 0.8


def test_descriptors_of_these_chips_match_those_of_dlibs_chips(shared, reference, predictor):
    """What matters downstream: the 128-d descriptor of our chip against that of dlib's chip."""
    emb = FaceDescriptorEmbedder.from_manifest(ModelManifest(ROOT / "models"), backend="torch")
    detector = dlib.get_frontal_face_detector()
    ours, theirs = [], []
    for rgb in photos():
        for r in detector(rgb, 1)[:1]:
            theirs.append(dlib.get_face_chip(rgb, reference(rgb, r), size=150, padding=0.25))
            points = predictor.points(rgb, np.array([r.left(), r.top(), r.right(), r.bottom()], float))
            ours.append(align_chip(rgb, points, DLIB5_CHIP_150, 150))
    distances = np.linalg.norm(emb.embed_chips(np.stack(ours)) - emb.embed_chips(np.stack(theirs)), axis=1)
    assert len(distances) >= 60
    # dlib's same-person distance is 0.6 (on unnormalised descriptors, close to unit length).
    assert np.median(distances) < 0.1 and distances.max() < 0.2, np.sort(distances)[-5:]


def test_the_descriptor_aligns_on_the_predictor_inside_mtcnn_boxes(shared, multiface):
    emb = FaceDescriptorEmbedder.from_manifest(ModelManifest(ROOT / "models"), backend="torch")
    assert emb.alignment == "dlib-5"
    dets = FaceDetector().detect(multiface)
    rgb = cv2.cvtColor(multiface, cv2.COLOR_BGR2RGB)
    for box, chip in zip(dets.boxes, emb.chips(rgb, dets.boxes, dets.landmarks)):
        # The points stay on the face: both eyes above the nose, inside the box.
        points = emb.landmarks.points(rgb, box)
        assert (points[:, 0] > box[0]).all() and (points[:, 0] < box[2]).all()
        assert points[:4, 1].max() < points[4, 1]
        assert chip.shape == (150, 150, 3)


def test_a_models_folder_without_the_predictor_aligns_on_mtcnn_points(tmp_path, caplog):
    import json
    import shutil

    data = json.loads((ROOT / "models" / "manifest.json").read_text())
    del data["models"][LANDMARKS]
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    shutil.copy(ROOT / "models" / "face_descriptor_128.pt", tmp_path)
    emb = FaceDescriptorEmbedder.from_manifest(ModelManifest(tmp_path), backend="torch")
    assert emb.alignment == "mtcnn-5" and "aligning on MTCNN's points" in caplog.text


def test_a_corrupt_predictor_file_is_refused(tmp_path):
    import json

    data = json.loads((ROOT / "models" / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    (tmp_path / data["models"][LANDMARKS]["file"]).write_bytes(b"not a predictor")
    with pytest.raises(ModelError, match="sha256"):
        load_landmarks(ModelManifest(tmp_path))


def test_save_and_load_round_trip(tmp_path, predictor):
    predictor.save(tmp_path / "p.npz")
    again = FaceLandmarks5.load(tmp_path / "p.npz")
    box = np.array([20.0, 30.0, 120.0, 140.0])
    img = np.random.default_rng(0).integers(0, 255, (200, 200), dtype=np.uint8)
    assert np.allclose(again.points(img, box), predictor.points(img, box))
