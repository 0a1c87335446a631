"""The PyTorch port of the 128-d descriptor agrees with dlib's reference implementation."""

from pathlib import Path

import numpy as np
import pytest
import torch

from edge.models.face_descriptor import FaceDescriptorNet
from edge.models.packed_state import load_state
from tests.conftest import FACES, SHARED

dlib = pytest.importorskip("dlib", reason="dlib-bin (test extra) runs the reference network")
MODELS = Path(__file__).resolve().parents[3] / "models"


def test_port_matches_dlib_on_the_same_chips(shared):
    from PIL import Image

    w = SHARED / "weights" / "dlib"
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(w / "shape_predictor_5_face_landmarks.dat"))
    reference = dlib.face_recognition_model_v1(str(w / "dlib_face_recognition_resnet_model_v1.dat"))
    net = FaceDescriptorNet()
    net.load_state_dict(load_state(MODELS / "face_descriptor_128.pt"))
    net.eval()
    cosines, distances = [], []
    for photo in sorted((FACES / "people").glob("*/*")):
        img = np.asarray(Image.open(photo).convert("RGB"))
        rects = detector(img, 1)
        assert rects, photo
        chip = dlib.get_face_chip(img, predictor(img, rects[0]), size=150, padding=0.25)
        ref = np.array(reference.compute_face_descriptor(chip))
        with torch.no_grad():
            ours = net(torch.from_numpy(chip).permute(2, 0, 1)[None].float())[0].numpy()
        cosines.append(ours @ ref / np.linalg.norm(ours) / np.linalg.norm(ref))
        distances.append(np.linalg.norm(ours - ref))
    # uint8-quantized weights: tiny differences, far under dlib's 0.6 same-person distance.
    assert min(cosines) > 0.999
    assert max(distances) < 0.06


def test_conversion_reproduces_the_shipped_weights(shared):
    from training.convert.faceapi import convert

    state = convert(SHARED / "weights" / "faceapi" / "face_recognition_model-weights_manifest.json")
    shipped = load_state(MODELS / "face_descriptor_128.pt")
    assert state.keys() == shipped.keys()
    assert all(torch.equal(state[k], shipped[k]) for k in state)
