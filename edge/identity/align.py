"""Aligning faces from MTCNN's five landmarks onto an embedder's chip template."""

from __future__ import annotations

import cv2
import numpy as np

# Where MTCNN's five points (eyes, nose, mouth corners) fall in the 150x150
# chips that dlib's get_face_chip(size=150, padding=0.25) cuts from its own
# 5-point landmarks: the 128-d descriptor network was trained on those chips.
# Measured by running MTCNN on dlib chips of the shared photos and the demo
# video (training/identity/chip_template.py), robust mean over 18 faces.
DLIB_CHIP_150 = np.array(
    [[41.4, 34.7], [101.1, 35.0], [73.1, 72.6], [44.3, 99.3], [95.6, 99.4]],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + shift mapping ``src`` points onto ``dst`` (Umeyama), 2x3."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    scale = np.trace(np.diag(sig) @ fix) / max(s.var(0).sum(), 1e-12)
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def align_chip(image: np.ndarray, landmarks: np.ndarray, template: np.ndarray, size: int) -> np.ndarray:
    """Warp ``image`` so the five ``landmarks`` land on ``template`` in a ``size`` x ``size`` chip.

    The similarity is fitted from the template to the face and inverted, as dlib's get_face_chip
    does (least squares in image pixels): with dlib's own points the chips then match dlib's.
    """
    m = cv2.invertAffineTransform(similarity_transform(template, landmarks))
    # Shrinking a big face (a high-resolution enrollment photo) by more than 2x in one bilinear step
    # aliases; halve it first with a Gaussian pyramid, as dlib's chip extraction does.
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    while scale < 0.5 and min(image.shape[:2]) >= 32:
        image = cv2.pyrDown(image)
        m[:, :2] *= 2
        scale *= 2
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
