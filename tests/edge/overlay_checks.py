"""Reading face regions out of streamed JPEGs, shared by the overlay tests."""

from __future__ import annotations

import time
from typing import Dict, List, Optional

import cv2
import httpx
import numpy as np

STREAM_SCALE = 1280 / 1920  # server.stream_max_side over the demo's width


def snapshot(url: str, overlay: str = "", headers: Optional[Dict[str, str]] = None) -> np.ndarray:
    params = {"overlay": overlay} if overlay else {}
    r = httpx.get(f"{url}/snapshot.jpg", params=params, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)


def warmed_up(url: str, headers: Optional[Dict[str, str]] = None, timeout: float = 60) -> None:
    """Wait until the analysis runs at its steady rate (the first seconds are slow: boxes lag behind faces)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = httpx.get(f"{url}/metrics", headers=headers, timeout=10).text
        fps = [float(line.split()[-1]) for line in text.splitlines() if line.startswith("edge_analysis_fps{")]
        if fps and fps[0] >= 3:
            return
        time.sleep(1)
    raise AssertionError("the analysis did not reach 3 fps")


def face_boxes(url: str, headers: Optional[Dict[str, str]] = None, min_px: float = 50) -> List[List[float]]:
    """The boxes of the faces on screen that are big enough to measure (source pixels)."""
    tracks = httpx.get(f"{url}/tracks", headers=headers, timeout=10).json()["tracks"]
    return [t["box"] for t in tracks if t["box"][2] - t["box"][0] >= min_px]


def sharpness(
    image: np.ndarray, boxes: List[List[float]], scale: float = STREAM_SCALE, labels_nearby: bool = True
) -> List[float]:
    """High-frequency energy inside each box (its inner 70%: no box lines). With ``labels_nearby`` (crowded
    streamed frames), the mean absolute Laplacian of its calmer half, so that the label of a nearby face drawn
    across it (sharp text) does not count; else the Laplacian's variance."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    out = []
    for x1, y1, x2, y2 in boxes:
        x1, y1, x2, y2 = (v * scale for v in (x1, y1, x2, y2))
        mx, my = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
        region = grey[int(y1 + my) : int(y2 - my), int(x1 + mx) : int(x2 - mx)]
        if region.size >= 64:
            laplacian = cv2.Laplacian(region, cv2.CV_64F)
            if not labels_nearby:
                out.append(float(laplacian.var()))
                continue
            energy = np.sort(np.abs(laplacian).ravel())
            out.append(float(energy[: len(energy) // 2].mean()))
    return out


def yellow_pixels(image: np.ndarray) -> int:
    """Pixels of the emoji faces' yellow (Twemoji #FFCC4D and its shades)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    return int(cv2.inRange(hsv, (20, 150, 180), (32, 255, 255)).astype(bool).sum())
