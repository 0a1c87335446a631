"""The emotion stage alone: what each emotion model and set of test-time views costs for N faces.

Issue 14 bounds the stage at p95 <= 60 ms for 4 faces on the CPU; this is the table that decides which
network and views fit. Each (models folder, views) pair is built as the service builds it
(``EmotionClassifier.from_manifest``, the same backend choice), warmed up, then timed on real FER2013
faces, every view of every face in one call, one pair after the other in the same process. Where a
folder ships an INT8 network for its weights (``python -m training quantize-emotion``), the pair is timed
in INT8 and in float.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from edge.emotion import EmotionClassifier, calibration_faces, emotion_network, quantized_file, tta_views
from edge.manifest import ModelManifest
from edge.models.emotion_net import count_macs

WARMUP_CALLS = 5


def time_model(
    models_dir: Path, tta: Optional[str], faces: np.ndarray, calls: int, cpu_int8: bool = True
) -> Dict[str, object]:
    """p50/p95 milliseconds of ``predict`` on ``faces`` for one models folder and set of views."""
    manifest = ModelManifest(models_dir)
    entry = manifest.entry("emotion")
    clf = EmotionClassifier.from_manifest(manifest, tta=tta, cpu_int8=cpu_int8)
    for _ in range(WARMUP_CALLS):
        clf.predict(faces)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        clf.predict(faces)
        times.append((time.perf_counter() - start) * 1000)
    views = len(tta_views(faces[:1], clf.tta))
    net = emotion_network(manifest, "emotion")
    return {
        "models": str(models_dir),
        "file": entry["file"],
        "width": entry["width"],  # a list for an averaged network
        "tta": clf.tta,
        "views": views,
        "faces": len(faces),
        "backend": type(clf.backend).__name__,
        "precision": clf.precision,
        "gmac_per_call": round(count_macs(net) * views * len(faces) / 1e9, 2),
        # The manifest's figure, measured with the manifest's views, not necessarily these.
        "publictest_accuracy": (entry.get("metrics") or {}).get("publictest_accuracy"),
        "publictest_views": entry["input"].get("tta_mode", "flip"),
        "ms_p50": round(float(np.percentile(times, 50)), 1),
        "ms_p95": round(float(np.percentile(times, 95)), 1),
        "calls": calls,
    }


def benchmark(
    models_dirs: Sequence[Path], ttas: Sequence[Optional[str]], fer_dir: Path, faces: int = 4, calls: int = 60
) -> List[Dict[str, object]]:
    """Every models folder with every set of views (None: the manifest's own), on the same faces; INT8 and
    float where the folder ships an INT8 network."""
    torch.set_flush_denormal(True)  # as the service does: trained weights make denormals, 25x slower
    batch = calibration_faces(fer_dir, limit=faces)[:faces]
    rows = []
    for m in models_dirs:
        precisions = (True, False) if quantized_file(ModelManifest(Path(m)), "emotion") else (False,)
        rows += [time_model(Path(m), tta, batch, calls, int8) for tta in ttas for int8 in precisions]
    return rows


def print_table(rows: List[Dict[str, object]]) -> None:
    print(
        "| model | views | faces | GMAC per call | backend | precision | PublicTest (manifest, with its views) "
        "| p50 ms | p95 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        known = r["publictest_accuracy"] is not None
        acc = f"{r['publictest_accuracy']:.1%} ({r['publictest_views']})" if known else "-"
        print(
            f"| {r['file']} | {r['tta']} ({r['views']}) | {r['faces']} | {r['gmac_per_call']} | {r['backend']} "
            f"| {r['precision']} "
            f"| {acc} | {r['ms_p50']} | {r['ms_p95']} |"
        )
