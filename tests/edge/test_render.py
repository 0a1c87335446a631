"""Overlays drawn on a real frame of the demo video: boxes, emoji, blurring of strangers or of everyone."""

import cv2
import numpy as np
import pytest

from edge.render import PRIVACY, draw, emoji_image, render_jpeg
from edge.types import Emotion, FaceResult, Identity
from tests.conftest import DEMO
from tests.edge.overlay_checks import sharpness


@pytest.fixture(scope="module")
def frame():
    cap = cv2.VideoCapture(str(DEMO))
    ok, img = cap.read()
    assert ok
    return img


# Faces of frame 1 (bench/data/walking/gt.txt): the man in front, and one behind.
STRANGER = FaceResult([283.0, 705.2, 380.9, 838.5], 1.0, Identity(None, 0.0), Emotion("happy", 0.9, {}), 1, "visitor-1")
KNOWN = FaceResult([677.0, 562.0, 740.0, 637.0], 1.0, Identity("ada", 0.9), Emotion("sad", 0.8, {}), 2, "ada")


def drawn(frame, overlay):
    out = frame.copy()
    draw(out, [STRANGER, KNOWN], overlay)
    return out


def test_blur_all_hides_every_face_and_blur_strangers_only_strangers(frame):
    plain = drawn(frame, "boxes")
    boxes = [STRANGER.box, KNOWN.box]
    before = sharpness(plain, boxes, 1.0, labels_nearby=False)
    for overlay, hidden in (("blur-all", [True, True]), ("blur-strangers", [True, False])):
        after = sharpness(drawn(frame, overlay), boxes, 1.0, labels_nearby=False)
        assert [a < 0.3 * b for a, b in zip(after, before)] == hidden, (overlay, before, after)


def test_the_blur_reaches_beyond_the_box_by_the_margin(frame):
    out = frame.copy()
    draw(out, [STRANGER], "blur-all", blur_margin=0.5)
    x1, y1, x2, y2 = STRANGER.box
    w = x2 - x1
    just_outside = [[x1 - 0.4 * w, y1, x1 - 0.05 * w, y2]]  # left of the box, inside the margin
    assert sharpness(out, just_outside, 1.0, False)[0] < 0.3 * sharpness(frame, just_outside, 1.0, False)[0]


def test_emoji_of_each_emotion_is_drawn_beside_the_face(frame):
    plain, emoji = drawn(frame, "boxes"), drawn(frame, "emoji")
    x1, y1, x2, y2 = (int(v) for v in STRANGER.box)
    beside = (slice(y1, y1 + 40), slice(x2 + 4, x2 + 44))
    assert np.abs(emoji[beside].astype(int) - plain[beside].astype(int)).mean() > 20
    for label in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "uncertain"):
        icon = emoji_image(label)
        assert icon is not None and icon.shape[2] == 4  # bundled, with alpha
    assert emoji_image("no-such-emotion") is None


def test_every_overlay_renders_a_jpeg(frame):
    for overlay in PRIVACY:
        jpeg = render_jpeg(frame, [STRANGER, KNOWN], 1280, 80, overlay)
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (720, 1280, 3)


def test_a_face_not_found_on_this_frame_is_blurred_at_its_last_place_but_not_labelled(frame):
    from dataclasses import replace

    lost = replace(STRANGER, found=False)
    boxes_only, blurred = frame.copy(), frame.copy()
    draw(boxes_only, [lost], "boxes")
    draw(blurred, [lost], "blur-strangers")
    assert np.array_equal(boxes_only, frame)  # nothing drawn where the face may no longer be
    assert sharpness(blurred, [STRANGER.box], 1.0, False)[0] < 0.3 * sharpness(frame, [STRANGER.box], 1.0, False)[0]
