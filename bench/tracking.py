"""Tracking against ground truth: MOT metrics (motmetrics) and the accuracy of the boxes the stream shows.

Ground truth in MOTChallenge ``gt.txt`` form (``frame,id,x,y,w,h,1,-1,-1,-1``, frames from 1).
:func:`annotate` makes a first version semi-automatically: MTCNN at full resolution with the still-photo
settings on every frame, detections linked frame to frame by IoU (Hungarian), tracks shorter than
``min_frames`` dropped; it is then checked by looking at the frames (:func:`contact_sheet`) and corrected
by hand, and the corrections are written down beside the file.

:func:`evaluate` replays the video through the service's own ``VideoAnalyzer`` at the rate the live
service analyses (every ``analyse_every``-th frame, or with ``realtime`` as often as this machine can),
draws each frame as the stream does (held back ``render.delay_frames`` with the analysis nearest to it,
and, for comparison, live with the latest analysis), and scores every frame.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from edge.boxes import iou_matrix
from edge.config import DEMO_VIDEO, load_settings
from edge.detection import FaceDetector
from edge.detection_worker import PendingDetection
from edge.scene_cut import SceneCutDetector

Box = Tuple[float, float, float, float]


@dataclass(frozen=True)
class AnnotatedVideo:
    """A video with its ground truth, and the rate the live service would analyse it at."""

    name: str
    video: Path
    gt: Path
    analyse_every: int = 3  # 25-30 fps sources: the live service analyses about every 3rd frame


DATA = Path(__file__).resolve().parent / "data"
VIDEOS = (
    AnnotatedVideo("walking", DEMO_VIDEO, DATA / "walking" / "gt.txt"),
    AnnotatedVideo("hamilton", DATA / "hamilton" / "short_hamilton_clip.mp4", DATA / "hamilton" / "gt.txt"),
)


def frame_rate(video: Path) -> float:
    """The video's frames per second (25 when the file does not say)."""
    fps = cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FPS)
    return fps if fps and fps > 0 else 25.0


def read_frames(video: Path) -> List[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def shot_cuts(frames: List[np.ndarray]) -> List[int]:
    """Frames (from 1) that start a new shot, by the service's own test (``edge.scene_cut``)."""
    cuts = SceneCutDetector()
    return [index for index, frame in enumerate(frames, start=1) if cuts.is_cut(frame)]


def annotate(
    video: Path, min_frames: int = 5, link_iou: float = 0.3, same_person: Sequence[Sequence[int]] = ()
) -> Dict[int, Dict[int, Box]]:
    """{frame (from 1): {id: box x1,y1,x2,y2}} from full-resolution MTCNN on every frame, linked by IoU.

    Links never cross a shot cut (:func:`shot_cuts`); ``same_person`` lists groups of the linked ids (as
    numbered without it) that are one person, e.g. the same man before and after a cut: found by looking at
    the frames, and written down beside the ground truth.
    """
    settings = load_settings(None, environ={}).detector
    detector = FaceDetector(max_side=4096, min_face_px=settings.photo_min_face_px)
    frames = read_frames(video)
    cuts = set(shot_cuts(frames))
    tracks: Dict[int, Dict[int, Box]] = {}
    last: Dict[int, np.ndarray] = {}  # id -> last box, for tracks seen in the previous frame
    next_id = 1
    for index, frame in enumerate(tqdm(frames, desc="full-resolution MTCNN"), start=1):
        if index in cuts:
            last = {}
        boxes = detector.detect(frame, max_side=max(frame.shape[:2]), min_face_px=settings.photo_min_face_px).boxes
        ids = list(last)
        iou = iou_matrix(np.array([last[i] for i in ids]).reshape(-1, 4), boxes)
        rows, cols = linear_sum_assignment(-iou) if iou.size else ([], [])
        current: Dict[int, np.ndarray] = {}
        taken = set()
        for r, c in zip(rows, cols):
            if iou[r, c] >= link_iou:
                current[ids[r]] = boxes[c]
                taken.add(c)
        for c in range(len(boxes)):
            if c not in taken:
                current[next_id] = boxes[c]
                next_id += 1
        for track_id, box in current.items():
            tracks.setdefault(track_id, {})[index] = tuple(float(v) for v in box)
        last = current
    kept = {t: f for t, f in tracks.items() if len(f) >= min_frames}
    by_frame: Dict[int, Dict[int, Box]] = {}
    for new_id, (_, frames_of) in enumerate(sorted(kept.items()), start=1):
        for index, box in frames_of.items():
            by_frame.setdefault(index, {})[new_id] = box
    return merge_people(by_frame, same_person)


def merge_people(gt: Dict[int, Dict[int, Box]], same_person: Sequence[Sequence[int]]) -> Dict[int, Dict[int, Box]]:
    """``gt`` with each group of ids in ``same_person`` made one id (the group's smallest), ids then renumbered
    1..N in their order. Refuses a group two of whose ids share a frame: they cannot be one person."""
    ids = sorted({i for boxes in gt.values() for i in boxes})
    person = {i: i for i in ids}
    for group in same_person:
        for i in group:
            if i not in person:
                raise ValueError(f"--same-person: no id {i} (ids are {ids[0]} to {ids[-1]})")
            person[i] = min(group)
    numbered = {p: n for n, p in enumerate(sorted(set(person.values())), start=1)}
    merged: Dict[int, Dict[int, Box]] = {}
    for index, boxes in gt.items():
        merged[index] = {}
        for i, box in boxes.items():
            new = numbered[person[i]]
            if new in merged[index]:
                raise ValueError(f"--same-person: two faces of frame {index} would be one person (id {new})")
            merged[index][new] = box
    return merged


def write_mot(gt: Dict[int, Dict[int, Box]], path: Path) -> None:
    lines = []
    for index in sorted(gt):
        for track_id, (x1, y1, x2, y2) in sorted(gt[index].items()):
            lines.append(f"{index},{track_id},{x1:.1f},{y1:.1f},{x2 - x1:.1f},{y2 - y1:.1f},1,-1,-1,-1")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def read_mot(path: Path) -> Dict[int, Dict[int, Box]]:
    gt: Dict[int, Dict[int, Box]] = {}
    for line in path.read_text().splitlines():
        f, i, x, y, w, h = line.split(",")[:6]
        gt.setdefault(int(f), {})[int(i)] = (float(x), float(y), float(x) + float(w), float(y) + float(h))
    return gt


def contact_sheet(video: Path, gt: Dict[int, Dict[int, Box]], frames: List[int], path: Path) -> None:
    """Chosen frames with their ground-truth boxes and ids, tiled, to check the annotation by eye."""
    all_frames = read_frames(video)
    tiles = []
    for index in frames:
        img = all_frames[index - 1].copy()
        for track_id, (x1, y1, x2, y2) in gt.get(index, {}).items():
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), (0, 255, 0), 3)
            cv2.putText(img, str(track_id), (int(x1), int(y1) - 8), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 255, 0), 3)
        cv2.putText(img, f"frame {index}", (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 255), 4)
        tiles.append(cv2.resize(img, (960, 540)))
    while len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i : i + 2]) for i in range(0, len(tiles), 2)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows))


def _valid(box, width: int, height: int) -> bool:
    x1, y1, x2, y2 = box
    return 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height


LIVE_MODES = ("latest analysis", "followed")  # drawn on the newest frame: the stream with render.delay_frames 0
SHOW_MODES = (*LIVE_MODES, "held back")  # held back: the stream as the service sends it by default


Shown = Dict[str, Dict[int, List[Tuple[int, Box]]]]  # {way of showing: {frame: [(track id, box)]}}


class ReplayedDetectionWorker:
    """The service's DetectionWorker on the replay's simulated clock: a detection asked at ``now`` is done at
    ``now`` plus what it cost here (times ``share``: the worker serves that many cameras), after the one before."""

    def __init__(self, share: int = 1) -> None:
        self.share = share
        self.now = 0.0  # seconds of video, set by the replay before each step
        self.spent = 0.0  # seconds spent detecting during the current step (not the analysis thread's)
        self._free_at = 0.0

    def submit(self, detect, frame: np.ndarray, frame_index: int) -> PendingDetection:
        t0 = time.perf_counter()
        dets = detect(frame)
        took = time.perf_counter() - t0
        self.spent += took
        self._free_at = max(self.now, self._free_at) + took * self.share
        result: Future = Future()
        result.set_result((dets, took))
        return _DoneAt(frame_index, result, self, self._free_at)

    def close(self) -> None:
        pass


class _DoneAt(PendingDetection):
    def __init__(self, frame_index: int, result: Future, worker: ReplayedDetectionWorker, at: float) -> None:
        super().__init__(frame_index, result)
        self.worker, self.at = worker, at

    def done(self) -> bool:
        return self.worker.now >= self.at


def replay(
    video: Path, analyse_every: int, realtime: bool = False, cameras: int = 1
) -> Tuple[Shown, Shown, int, Dict[str, float]]:
    """What the stream draws on each frame, per way of showing; what the privacy overlays blur (the same,
    plus the last known place of faces not found on that frame); the number of invalid boxes in events and
    on the stream; and the follower's cost.

    Analysis of frame k takes one analysis period, so its result reaches the stream at frame
    k + ``analyse_every``. Drawn live (``render.delay_frames`` 0), "latest analysis" draws that result as it is
    until the next one and "followed" carries it onto every frame (``ShownBoxes``); "held back" is the stream
    as the service sends it by default, ``render.delay_frames`` behind, each frame drawn with the analysis
    nearest to it (``StreamDelay``).

    ``realtime``: frames arrive at the video's rate on a simulated clock, and the analyzer takes the newest
    frame whenever it is free, as the live service does; each analysis takes the time it took here, and its
    result reaches the stream with the first frame that arrives after it. With ``detector.worker`` on (the
    default), whole-frame detections run on the service's worker, modelled on the same clock
    (:class:`ReplayedDetectionWorker`), while the analysis goes on. ``cameras``: the analysis and the worker
    are shared by that many cameras like this one, so each step and each detection takes that many times
    longer. A slow machine then analyses fewer
    frames, further apart, with more latency: what a viewer of the live service sees on it. (Optimistic: the
    service's capture and render threads share the CPU with the analysis, and here they do not.)
    """
    from edge.bootstrap import build_analyzer
    from edge.box_follow import ShownBoxes
    from edge.scene_cut import ShotCounter
    from edge.stream_delay import StreamDelay
    from edge.video import VideoAnalyzer

    # EDGE_* variables apply (e.g. EDGE_TRACKER__FOLLOW_BOXES=false, EDGE_DETECTOR__EVERY_N_FRAMES=2): the
    # README's trade-offs are this command run with them. Identity runs as the service's does (its embeddings
    # re-identify people after a scene cut), against an empty gallery of its own.
    gallery_dir = tempfile.TemporaryDirectory()  # lives as long as the analyzer's SQLite gallery in it
    database = str(Path(gallery_dir.name) / "edge.db")
    settings = load_settings(None, environ={"EDGE_STORAGE__DATABASE": database, **os.environ})
    analyzer = build_analyzer(settings)
    worker = ReplayedDetectionWorker(cameras) if realtime and settings.detector.worker else None
    video_analyzer = VideoAnalyzer(analyzer, settings, detection=worker)
    frames = read_frames(video)
    fps = frame_rate(video)
    height, width = frames[0].shape[:2]
    analyzer.detector.detect(frames[0])  # warm-up, which a running service has behind it (the worker's too)
    drawn: Shown = {mode: {} for mode in SHOW_MODES}
    blurred: Shown = {mode: {} for mode in SHOW_MODES}
    follower = ShownBoxes()
    delay = StreamDelay(settings.render.delay_frames)
    shots = ShotCounter(settings.tracker.scene_cut)  # as the service's frame slot numbers the shots
    held: Dict[int, List[Tuple[int, Box]]] = {}  # the held-back stream: what the blur modes blur on each frame
    held_drawn: Dict[int, List[Tuple[int, Box]]] = {}  # and what it draws
    # (visible from, analysed frame, its shot, faces, the frame of the worker's detection they took)
    in_flight: List[Tuple[int, int, int, list, Optional[int]]] = []
    latest: list = []
    invalid, follow_s, analysis_s, analysed_frames = 0, 0.0, 0.0, 0
    free_at = 0.0  # realtime: when (seconds of video) the analyzer is free for the newest frame
    for index, frame in enumerate(tqdm(frames, desc="service replay"), start=1):
        arrives = (index - 1) / fps
        captured = shots.stamp(index, frame, arrives)
        if (realtime and arrives >= free_at) or (not realtime and (index - 1) % analyse_every == 0):
            if worker is not None:
                worker.now, worker.spent = arrives, 0.0
            t0 = time.perf_counter()
            faces, events, _ = video_analyzer.step(frame, index / fps, captured.shot, index)
            took = (time.perf_counter() - t0 - (worker.spent if worker is not None else 0.0)) * cameras
            if index > 1:  # the first step pays for warm-up
                analysis_s += took
                analysed_frames += 1
            else:
                took = 1.0 / fps  # the warm-up is not what a running service pays
            free_at = arrives + took
            shown_from = index + max(1, math.ceil(took * fps)) if realtime else index + analyse_every
            in_flight.append((shown_from, index, captured.shot, faces, video_analyzer.detected_on))
            invalid += sum(not _valid(e.box, width, height) for e in events)
        while in_flight and in_flight[0][0] <= index:
            _, analysed, shot, latest, detected_on = in_flight.pop(0)
            follower.update({int(f.track_id): np.array(f.box) for f in latest}, analysed, shot)
            delay.add_analysis(analysed, shot, latest, detected_on)
        out = delay.push(captured)
        if out is not None:
            held_frame, held_faces = out
            held[held_frame.index] = [(int(f.track_id), tuple(f.box)) for f in held_faces]
            held_drawn[held_frame.index] = [(int(f.track_id), tuple(f.box)) for f in held_faces if f.found]
            invalid += sum(not _valid(f.box, width, height) for f in held_faces)
        t0 = time.perf_counter()
        followed = follower.on_frame(captured)
        follow_s += time.perf_counter() - t0
        found = {int(f.track_id) for f in latest if f.found}
        boxes = {
            "latest analysis": [(int(f.track_id), tuple(f.box)) for f in latest],
            "followed": [(track_id, tuple(box)) for track_id, box in followed.items()],
        }
        for mode in LIVE_MODES:
            blurred[mode][index] = boxes[mode]
            drawn[mode][index] = [(t, box) for t, box in boxes[mode] if t in found]
            invalid += sum(not _valid(box, width, height) for _, box in boxes[mode])
    invalid += sum(not _valid(e.box, width, height) for e in video_analyzer.finish())
    # The last frames never come out of the delay: they are not scored.
    blurred["held back"], drawn["held back"] = held, held_drawn
    gallery_dir.cleanup()
    costs = {
        "follow_ms_per_frame": round(1000 * follow_s / len(frames), 2),
        "analysis_fps": round(analysed_frames / max(analysis_s, 1e-9), 2),
        "analysed_share": round((analysed_frames + 1) / len(frames), 4),
    }
    return drawn, blurred, invalid, costs


def evaluate(
    video: Path, gt_path: Path, analyse_every: int = 3, realtime: bool = False, cameras: int = 1
) -> Dict[str, object]:
    """MOT metrics of the shown boxes against ``gt_path`` for each way of showing them, on every annotated
    face and on the faces at least ``detector.min_face_px`` tall (the smallest the service is set to find).
    ``realtime``: analysed at the rate this machine can (:func:`replay`), not every ``analyse_every``-th frame."""
    gt = read_mot(gt_path)
    drawn, blurred, invalid, costs = replay(video, analyse_every, realtime, cameras)
    settings = load_settings(None, environ=dict(os.environ))
    min_px = settings.detector.min_face_px
    return {
        "video": video.name,
        "analyse_every": analyse_every,  # unused with realtime
        "realtime": realtime,
        "cameras": cameras,
        "invalid_boxes": int(invalid),
        "min_face_px": min_px,
        **costs,
        "modes": {mode: score(gt, drawn[mode], blurred=blurred[mode]) for mode in SHOW_MODES},
        "modes_min_face": {mode: score(gt, drawn[mode], min_px, blurred[mode]) for mode in SHOW_MODES},
        "delay_frames": settings.render.delay_frames,
    }


def _only(gt: Dict[int, Dict[int, Box]], frames: Dict[int, object]) -> Dict[int, Dict[int, Box]]:
    return {index: boxes for index, boxes in gt.items() if index in frames}


def score(
    gt: Dict[int, Dict[int, Box]],
    shown: Dict[int, List[Tuple[int, Box]]],
    min_height: float = 0.0,
    blurred: Optional[Dict[int, List[Tuple[int, Box]]]] = None,
) -> Dict[str, float]:
    """motmetrics' IDF1, MOTA, switches, fragmentations; tracks per person; share of GT boxes shown at IoU >= 0.5;
    share of faces the privacy overlays would blur (``blurred``: the boxes they blur, default ``shown``).
    Only the frames in ``shown`` count: the held-back stream's last frames never come out.

    Faces under ``min_height`` px are "don't care" (as MOTChallenge treats ignored regions): neither they nor
    a shown box on them (IoU >= 0.5) count.
    """
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    displayed_hits, gt_boxes = 0, 0
    for index in sorted(shown):
        truth = gt.get(index, {})
        small = np.array([b for b in truth.values() if b[3] - b[1] < min_height]).reshape(-1, 4)
        truth = {i: b for i, b in truth.items() if b[3] - b[1] >= min_height}
        hyps = [(t, b) for t, b in shown[index] if not (iou_matrix(np.array([b]), small) >= 0.5).any()]
        g_ids, g_boxes = list(truth), np.array(list(truth.values())).reshape(-1, 4)
        h_ids, h_boxes = [t for t, _ in hyps], np.array([b for _, b in hyps]).reshape(-1, 4)
        iou = iou_matrix(g_boxes, h_boxes)
        # motmetrics' own iou_matrix uses a NumPy 1 API; the distance it wants is 1 - IoU, NaN under IoU 0.5.
        acc.update(g_ids, h_ids, np.where(iou >= 0.5, 1 - iou, np.nan))
        if iou.size:
            rows, cols = linear_sum_assignment(-iou)
            displayed_hits += int((iou[rows, cols] >= 0.5).sum())
        gt_boxes += len(g_ids)
    summary = mm.metrics.create().compute(
        acc,
        metrics=[
            "idf1",
            "mota",
            "num_switches",
            "num_fragmentations",
            "num_unique_objects",
            "num_misses",
            "num_false_positives",
            "num_objects",
        ],
        name="x",
    )
    events = acc.mot_events
    matched = events[events["Type"].isin(["MATCH", "SWITCH"])]
    per_person = matched.groupby("OId")["HId"].nunique()
    row = summary.loc["x"]
    return {
        "idf1": round(float(row["idf1"]), 4),
        "mota": round(float(row["mota"]), 4),
        "id_switches": int(row["num_switches"]),
        "fragmentations": int(row["num_fragmentations"]),
        "gt_identities": int(row["num_unique_objects"]),
        "missed_boxes": int(row["num_misses"]),
        "false_boxes": int(row["num_false_positives"]),
        "gt_boxes": int(row["num_objects"]),
        "tracks_per_identity": round(float(per_person.mean()), 3) if len(per_person) else 0.0,
        "displayed_box_iou50": round(displayed_hits / max(gt_boxes, 1), 4),
        "blur_covered": blur_coverage(_only(gt, shown), shown if blurred is None else blurred, min_height),
    }


def blur_coverage(
    gt: Dict[int, Dict[int, Box]], shown: Dict[int, List[Tuple[int, Box]]], min_height: float = 0.0
) -> float:
    """Share of annotated faces that ``render.overlay: blur-*`` would hide: at least 90% of the face's box
    inside one shown box grown by ``render.blur_margin`` (what the privacy overlays blur)."""
    from edge.config import RenderConfig

    margin = RenderConfig().blur_margin
    covered = total = 0
    for index, truth in gt.items():
        grown = [
            (x1 - margin * (x2 - x1), y1 - margin * (y2 - y1), x2 + margin * (x2 - x1), y2 + margin * (y2 - y1))
            for _, (x1, y1, x2, y2) in shown.get(index, [])
        ]
        for gx1, gy1, gx2, gy2 in truth.values():
            if gy2 - gy1 < min_height:
                continue
            total += 1
            area = (gx2 - gx1) * (gy2 - gy1)
            inside = max(
                (
                    max(0.0, min(gx2, x2) - max(gx1, x1)) * max(0.0, min(gy2, y2) - max(gy1, y1))
                    for x1, y1, x2, y2 in grown
                ),
                default=0.0,
            )
            covered += inside >= 0.9 * area
    return round(covered / max(total, 1), 4)
