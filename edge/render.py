"""Drawing boxes, names and emotions onto frames."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import cv2
import numpy as np

from edge.smoothing import UNCERTAIN
from edge.types import FaceResult

KNOWN = (80, 200, 60)  # BGR
STRANGER = (40, 160, 255)


def annotate(frame: np.ndarray, faces: Sequence[FaceResult], copy: bool = True) -> np.ndarray:
    """Draw each face's box and a label ``name | emotion 87%`` on a copy of ``frame`` (or on it)."""
    out = frame.copy() if copy else frame
    scale = max(frame.shape[0] / 720.0, 0.5)
    thick = max(int(round(2 * scale)), 1)
    for face in faces:
        x1, y1, x2, y2 = [int(round(v)) for v in face.box]
        known = face.identity is not None and face.identity.name is not None
        color = KNOWN if known else STRANGER
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)
        name = face.label or (face.identity.name if known else "unknown")
        text = name
        if face.emotion is not None and face.emotion.label == UNCERTAIN:
            text += " | ?"  # the model cannot tell: no label is better than a confident wrong one
        elif face.emotion is not None:
            text += f" | {face.emotion.label} {face.emotion.score * 100:.0f}%"
        font_scale = 0.55 * scale
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
        ty = min(y2 + th + base + 4, out.shape[0] - 1)
        cv2.rectangle(out, (x1, ty - th - base - 4), (x1 + tw + 6, ty), color, -1)
        cv2.putText(
            out, text, (x1 + 3, ty - base - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thick, cv2.LINE_AA
        )
    return out


def render_jpeg(frame: np.ndarray, faces: Sequence[FaceResult], max_side: int = 1280, quality: int = 80) -> bytes:
    """The stream's JPEG: ``frame`` downscaled to at most ``max_side``, annotated, encoded.

    Downscaling first means the copy and the drawing happen on the smaller image,
    which matters at 1080p on a 2-core CPU.
    """
    h, w = frame.shape[:2]
    scale = min(1.0, max_side / float(max(h, w)))
    if scale < 1.0:
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        faces = [replace(f, box=[v * scale for v in f.box]) for f in faces]
        return encode_jpeg(annotate(small, faces, copy=False), quality)
    return encode_jpeg(annotate(frame, faces), quality)


def encode_jpeg(frame: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
