"""Reading face regions out of streamed JPEGs, shared by the overlay tests."""

from __future__ import annotations

from typing import List

import cv2
import httpx
import numpy as np


def snapshot(url: str, overlay: str = "", **kw) -> np.ndarray:
    params = {"overlay": overlay} if overlay else {}
    r = httpx.get(f"{url}/snapshot.jpg", params=params, timeout=30, **kw)
    assert r.status_code == 200, r.text
    return cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)


def sharpness(image: np.ndarray, boxes: List[List[float]], scale: float) -> List[float]:
    """Laplacian variance (high-frequency energy) inside each box (its inner 70%: no box lines)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    out = []
    for x1, y1, x2, y2 in boxes:
        x1, y1, x2, y2 = (v * scale for v in (x1, y1, x2, y2))
        mx, my = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
        region = grey[int(y1 + my) : int(y2 - my), int(x1 + mx) : int(x2 - mx)]
        if region.size >= 64:
            out.append(float(cv2.Laplacian(region, cv2.CV_64F).var()))
    return out


def yellow_pixels(image: np.ndarray) -> int:
    """Pixels of the emoji faces' yellow (Twemoji #FFCC4D and its shades)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    return int(cv2.inRange(hsv, (20, 150, 180), (32, 255, 255)).astype(bool).sum())
