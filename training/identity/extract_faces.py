"""Cut faces out of a video into one folder per track, to build a person's photo set.

Faces are tracked so each folder holds one person; near-duplicates (almost the
same embedding as the last face kept for that track) and blurry crops
(low variance of the Laplacian) are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import cv2
import numpy as np
from tqdm import tqdm

from edge.analyzer import face_crop
from edge.detection import FaceDetector
from edge.identity.embedders import Embedder
from edge.identity.quality import laplacian_variance
from edge.tracking import FaceTracker


def extract_faces(
    video: Path,
    out: Path,
    embedder: Embedder,
    every: int = 5,
    min_face_px: int = 40,
    min_sharpness: float = 30.0,
    max_similarity: float = 0.97,
) -> Dict[str, int]:
    """Write ``out/track_<id>/<frame>.png`` face crops; returns the count per track folder."""
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ValueError(f"cannot open video {video}")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    detector = FaceDetector(max_side=1280, min_face_px=min_face_px)
    tracker = FaceTracker(["-"], max_missed=3, min_hits=1)
    last_kept: Dict[int, np.ndarray] = {}
    counts: Dict[str, int] = {}
    out = Path(out)
    index = 0
    with tqdm(total=total, desc=f"faces from {Path(video).name}", unit="frame") as bar:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            bar.update(1)
            index += 1
            if (index - 1) % every:
                continue
            dets = detector.detect(frame)
            seen, _ = tracker.update(dets, float(index))
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            for track in seen:
                if track.box[2] - track.box[0] < min_face_px:
                    continue
                crop, _, _ = face_crop(rgb, track.box, track.landmarks, margin=0.6)
                if laplacian_variance(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)) < min_sharpness:
                    continue
                vec = embedder.embed_chips(embedder.chips(rgb, track.box[None], track.landmarks[None]))[0]
                prev = last_kept.get(track.track_id)
                if prev is not None and float(prev @ vec) > max_similarity:
                    continue
                last_kept[track.track_id] = vec
                folder = out / f"track_{track.track_id:03d}"
                folder.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / f"{index:06d}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                counts[folder.name] = counts.get(folder.name, 0) + 1
    return counts
