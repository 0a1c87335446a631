"""``python -m bench pipeline``: our pipeline against the straightforward per-frame loop, same frames, one run.

Scenarios: the 1080p demo video, and 640x480 frames with 1, 4 and 8 real faces
(crops of the shared photos, drifting a few pixels a frame like people in a
room). Each (scenario, mode) runs in its own subprocess so that CPU time and
peak RSS belong to that mode alone.

Modes:
- ``loop``: the seed project's loop: MTCNN on the full frame, then each face
  alone through InceptionResnetV1 (VGGFace2 weights when present, else the
  same network with random weights: same cost) and the full-width ResNet9, in
  PyTorch; then draw and encode.
- ``ours``: the service's VideoAnalyzer with the shipped models and the
  ``auto`` backend, then draw and encode.
- ``reference``: every face of every frame through our models, no tracking or
  smoothing, for the accuracy checks (face recall, identity and emotion agreement).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from edge.boxes import iou_matrix
from edge.config import DEMO_VIDEO, REPO_ROOT, load_settings
from edge.datasets import data_root
from edge.render import render_jpeg
from edge.types import FaceResult

SHARED = data_root()  # the data sets not shipped (edge.datasets)
SCENARIOS = ("demo1080p", "faces1", "faces4", "faces8")


def scenario_frames(name: str, count: int) -> List[np.ndarray]:
    cap = cv2.VideoCapture(str(DEMO_VIDEO))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        frames.append(frame)
    if name == "demo1080p":
        return frames
    n = int(name[len("faces") :])
    faces = face_crops()
    # The demo's colours without its walkers: blurred, so the scenario holds exactly n faces (the walkers, small
    # at this size, were found too and made "faces4" an 8-face scenario).
    background = cv2.GaussianBlur(cv2.resize(frames[0], (640, 480)), (0, 0), 15)
    cols = 4 if n > 4 else n
    out = []
    for t in range(count):
        frame = background.copy()
        for i in range(n):
            face = faces[i % len(faces)]
            x = 20 + (i % cols) * 150 + int(10 * np.sin(t / 7 + i))
            y = 40 + (i // cols) * 220 + int(6 * np.cos(t / 9 + i))
            frame[y : y + face.shape[0], x : x + face.shape[1]] = face
        out.append(frame)
    return out


def face_crops(side: int = 130) -> List[np.ndarray]:
    """One face crop (with margin) of each shared photo, ``side`` px square."""
    from edge.detection import FaceDetector

    detector = FaceDetector(max_side=1280, min_face_px=30)
    crops = []
    for photo in sorted((SHARED / "data/faces/people").glob("*/*")):
        img = cv2.imread(str(photo))
        dets = detector.detect(img)
        if len(dets):
            x1, y1, x2, y2 = dets.boxes[0]
            s = max(x2 - x1, y2 - y1) * 1.5
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            x1, y1 = int(max(cx - s / 2, 0)), int(max(cy - s / 2, 0))
            crop = img[y1 : int(cy + s / 2), x1 : int(cx + s / 2)]
            crops.append(cv2.resize(crop, (side, side)))
    return crops


def run_loop(frames: List[np.ndarray]) -> Dict[str, object]:
    import torch
    from facenet_pytorch import MTCNN, InceptionResnetV1

    from edge.models.resnet9 import ResNet9

    torch.set_flush_denormal(True)
    mtcnn = MTCNN(keep_all=True)
    facenet = InceptionResnetV1(pretrained=None).eval()
    vgg = REPO_ROOT / "models" / "20180402-114759-vggface2.pt"
    if vgg.exists():
        from edge.identity.embedders import VggFace2Embedder

        facenet = VggFace2Embedder.load_network(vgg)
    emotion = ResNet9(num_classes=7, width=128).eval()
    stages: Dict[str, List[float]] = {"detect": [], "identity": [], "emotion": [], "frame": []}
    boxes_per_frame = []
    meter = Meter()
    with meter:
        _loop_frames(frames, mtcnn, facenet, emotion, stages, boxes_per_frame)
    return {"stages": stages, "boxes": boxes_per_frame, "wall_s": meter.wall, "cpu_pct": meter.cpu_pct}


def _loop_frames(frames, mtcnn, facenet, emotion, stages, boxes_per_frame) -> None:
    import torch

    from edge.crops import crop_resize, square_box

    for frame in frames:
        t0 = time.perf_counter()
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        boxes, _ = mtcnn.detect(rgb)
        boxes = np.zeros((0, 4)) if boxes is None else boxes
        t1 = time.perf_counter()
        with torch.no_grad():
            for box in boxes:
                chip = crop_resize(rgb, square_box(box), 160).astype(np.float32)
                facenet(torch.from_numpy((chip.transpose(2, 0, 1)[None] - 127.5) / 128))
            t2 = time.perf_counter()
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            for box in boxes:
                face = crop_resize(gray, square_box(box), 48).astype(np.float32) / 255
                emotion(torch.from_numpy(face[None, None]))
        t3 = time.perf_counter()
        render_jpeg(frame, [FaceResult(list(b), 1.0) for b in boxes])
        t4 = time.perf_counter()
        stages["detect"].append(t1 - t0)
        stages["identity"].append(t2 - t1)
        stages["emotion"].append(t3 - t2)
        stages["frame"].append(t4 - t0)
        boxes_per_frame.append(np.asarray(boxes).tolist())


def _analyzer_with_gallery(tmp: Path):
    from edge.bootstrap import build_analyzer

    settings = load_settings(None, environ={"EDGE_STORAGE__DATABASE": str(tmp / "bench.db")})
    analyzer = build_analyzer(settings)
    if not analyzer.gallery.names():
        for person_dir in sorted((SHARED / "data/faces/people").iterdir()):
            photo = sorted(person_dir.iterdir())[0]
            analyzer.enroll(person_dir.name, [cv2.imread(str(photo))])
    return settings, analyzer


def labelled(faces: List[FaceResult]) -> list:
    """(box, name, emotion) of each face, for the agreement checks."""
    return [(f.box, f.identity.name if f.identity else None, f.emotion.label if f.emotion else None) for f in faces]


def run_ours(frames: List[np.ndarray], tmp: Path, every_n: int) -> Dict[str, object]:
    from edge.video import VideoAnalyzer

    settings, analyzer = _analyzer_with_gallery(tmp)
    settings.detector.every_n_frames = every_n
    video = VideoAnalyzer(analyzer, settings)
    stages: Dict[str, List[float]] = {"detect": [], "identity": [], "emotion": [], "frame": []}
    results, raw = [], []
    meter = Meter()
    with meter:
        for i, frame in enumerate(frames):
            t0 = time.perf_counter()
            faces, _, times = video.step(frame, now=i / 25.0)
            render_jpeg(frame, faces, settings.server.stream_max_side, settings.server.jpeg_quality)
            stages["frame"].append(time.perf_counter() - t0)
            for k in ("detect", "identity", "emotion"):
                stages[k].append(times.values.get(k, 0.0))
            results.append(labelled(faces))
            raw.append(fresh_emotions(video) if "detect" in times.values else [])
    return {"stages": stages, "faces": results, "raw": raw, "wall_s": meter.wall, "cpu_pct": meter.cpu_pct}


def fresh_emotions(video) -> list:
    """(box, None, label) of the faces whose emotion was computed in this step, before smoothing."""
    classes = video.analyzer.emotion.classes if video.analyzer.emotion is not None else []
    return [
        (t.box.tolist(), None, classes[int(np.argmax(t.emotion.last))])
        for t in video.tracker.tracks
        if t.frames_since_emotion == 0 and t.emotion.last is not None and t.missed == 0
    ]


def run_reference(frames: List[np.ndarray], tmp: Path) -> Dict[str, object]:
    settings, analyzer = _analyzer_with_gallery(tmp)
    # The same detector settings as the live pipeline: recall compares scheduling, not search depth.
    analyzer.photo_max_side, analyzer.photo_min_face_px = settings.detector.max_side, settings.detector.min_face_px
    results = []
    for frame in frames:
        results.append(labelled(analyzer.analyze_image(frame)))
    return {"faces": results}


def run_mode(mode: str, scenario: str, frames: int, every_n: int, tmp: Path) -> Dict[str, object]:
    """Run one mode in this process; prints JSON with timings, CPU and peak RSS."""
    data = scenario_frames(scenario, frames)
    if mode == "loop":
        out = run_loop(data)
    elif mode == "ours":
        out = run_ours(data, tmp, every_n)
    else:
        out = run_reference(data, tmp)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["frames"] = len(data)
    return out


class Meter:
    """Wall time and CPU share of the frame loop alone (model loading and enrollment excluded)."""

    def __enter__(self) -> Meter:
        self.usage, self.wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter() - self.wall
        cpu = usage.ru_utime + usage.ru_stime - self.usage.ru_utime - self.usage.ru_stime
        self.cpu_pct = 100 * cpu / self.wall


def _p(values: List[float], q: float) -> float:
    return float(np.quantile(values, q) * 1000) if values else 0.0


def agreement(ours: List[list], reference: List[list]) -> Dict[str, float]:
    """Face recall of ours against per-frame detection, and label agreement on matched faces."""
    matched = total = same_id = same_emo = 0
    for mine, ref in zip(ours, reference):
        total += len(ref)
        if not mine or not ref:
            continue
        ious = iou_matrix(np.array([r[0] for r in ref], float), np.array([m[0] for m in mine], float))
        for i in range(len(ref)):
            j = int(ious[i].argmax())
            if ious[i, j] >= 0.3:
                matched += 1
                same_id += ref[i][1] == mine[j][1]
                same_emo += ref[i][2] == mine[j][2]
    return {
        "face_recall": matched / total if total else 1.0,
        "identity_agreement": same_id / matched if matched else 0.0,
        "emotion_agreement": same_emo / matched if matched else 0.0,
    }


def run_mode_apart(mode: str, scenario: str, frames: int, every_n: int, tmp: str) -> Dict[str, object]:
    """:func:`run_mode` in a process of its own (its CPU time and peak RSS are that mode's alone)."""
    cmd = [sys.executable, "-m", "bench", "pipeline", "--mode", mode, "--scenario", scenario]
    cmd += ["--frames", str(frames), "--every-n", str(every_n), "--tmp", tmp]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def benchmark(frames: int = 60, every_n: int = 3, scenarios=SCENARIOS) -> List[Dict[str, object]]:
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in scenarios:
            got = {}
            for mode in ("loop", "ours", "reference"):
                got[mode] = run_mode_apart(mode, scenario, frames, every_n, tmp)
            row = {"scenario": scenario, "frames": frames}
            for mode in ("loop", "ours"):
                r = got[mode]
                row[mode] = {
                    "fps": r["frames"] / r["wall_s"],
                    "cpu_pct": r["cpu_pct"],
                    "peak_rss_mb": r["peak_rss_mb"],
                    "frame_ms_p50": _p(r["stages"]["frame"], 0.5),
                    "frame_ms_p95": _p(r["stages"]["frame"], 0.95),
                    **{f"{k}_ms_p50": _p(r["stages"][k], 0.5) for k in ("detect", "identity", "emotion")},
                    **{f"{k}_ms_p95": _p(r["stages"][k], 0.95) for k in ("detect", "identity", "emotion")},
                }
            row["speedup"] = row["ours"]["fps"] / row["loop"]["fps"]
            row["accuracy"] = agreement(got["ours"]["faces"], got["reference"]["faces"])
            # The fast path's own emotion computations (tracker box, batch, backend) before smoothing:
            row["accuracy"]["emotion_agreement_raw"] = agreement(got["ours"]["raw"], got["reference"]["faces"])[
                "emotion_agreement"
            ]
            rows.append(row)
            print_row(row)
    print(table(rows))
    return rows


def print_row(row: Dict[str, object]) -> None:
    """One progress line while the benchmark runs."""
    print(
        f"{row['scenario']}: loop {row['loop']['fps']:.2f} fps, ours {row['ours']['fps']:.2f} fps "
        f"(x{row['speedup']:.1f})",
        flush=True,
    )


def table(rows: List[Dict[str, object]]) -> str:
    """The results as a Markdown table (the README's benchmark section)."""
    head = (
        "| scenario | pipeline | fps | capture-to-JPEG p50 / p95 ms | detect p50 / p95 | identity p50 / p95 | "
        "emotion p50 / p95 | CPU % | peak RSS MB | speed-up | face recall | identity agr. | emotion agr. "
        "(raw / shown) |"
    )
    lines = [head, "|" + "---|" * 13]
    for row in rows:
        acc = row["accuracy"]
        for mode in ("loop", "ours"):
            r = row[mode]
            extra = (
                (
                    f"x{row['speedup']:.1f} | {acc['face_recall']:.3f} | {acc['identity_agreement']:.3f} | "
                    f"{acc['emotion_agreement_raw']:.3f} / {acc['emotion_agreement']:.3f} |"
                )
                if mode == "ours"
                else " | | | |"
            )
            lines.append(
                f"| {row['scenario']} | {'per-frame loop' if mode == 'loop' else 'ours'} | {r['fps']:.2f} | "
                f"{r['frame_ms_p50']:.0f} / {r['frame_ms_p95']:.0f} | {r['detect_ms_p50']:.0f} / "
                f"{r['detect_ms_p95']:.0f} | {r['identity_ms_p50']:.0f} / {r['identity_ms_p95']:.0f} | "
                f"{r['emotion_ms_p50']:.0f} / {r['emotion_ms_p95']:.0f} | {r['cpu_pct']:.0f} | "
                f"{r['peak_rss_mb']:.0f} | {extra}"
            )
    return "\n".join(lines)
