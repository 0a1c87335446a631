"""Face quality: how useful a crop is for naming someone (size, sharpness, frontal pose).

Each part is in [0, 1] and the score is their product, so one bad part (a blurred, turned or tiny face)
is enough to rank a crop low. Used to keep each track's best crops, the ones a visitor is enrolled from.
"""

from __future__ import annotations

import cv2
import numpy as np

FULL_SIZE_PX = 96  # faces this wide or wider get the full size score
SHARP_VARIANCE = 200.0  # Laplacian variance of a 64x64 face at which sharpness saturates


def size_score(box: np.ndarray) -> float:
    return float(min(1.0, max(box[2] - box[0], 0.0) / FULL_SIZE_PX))


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the Laplacian: low for blurred or tiny faces."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def sharpness_score(gray_face: np.ndarray) -> float:
    """:func:`laplacian_variance` of the face resized to 64x64, so faces of any size compare; in [0, 1]."""
    if gray_face.size == 0:
        return 0.0
    small = cv2.resize(gray_face, (64, 64), interpolation=cv2.INTER_AREA)
    return float(min(1.0, laplacian_variance(small) / SHARP_VARIANCE))


def frontal_score(landmarks: np.ndarray) -> float:
    """From the five points: the nose centred between the eyes (yaw) and the eyes level (roll)."""
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eyes = right_eye - left_eye
    eye_distance = float(np.hypot(*eyes))
    if eye_distance < 1e-6:
        return 0.0
    mid = (left_eye + right_eye) / 2
    yaw = abs(float(np.dot(nose - mid, eyes / eye_distance))) / (0.5 * eye_distance)
    roll = abs(float(np.degrees(np.arctan2(eyes[1], eyes[0])))) / 45.0
    return float(max(0.0, 1.0 - yaw) * max(0.0, 1.0 - roll))


def face_quality(gray_face: np.ndarray, box: np.ndarray, landmarks: np.ndarray) -> float:
    """Size x sharpness x frontal pose, in [0, 1]."""
    return size_score(box) * sharpness_score(gray_face) * frontal_score(landmarks)
