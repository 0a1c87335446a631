"""Small typed values passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class CapturedFrame:
    """A frame as a camera captured it, numbered once for every reader (the analysis and the stream).

    ``shot`` is the index of the frame that began its shot (``edge.scene_cut.ShotCounter``): the analysis and
    the held-back stream read the same cuts, so a face is never carried onto a shot it is not in.
    """

    index: int  # from 1, in capture order
    image: np.ndarray  # BGR, source size
    time: float  # when it was captured (epoch seconds)
    shot: int = 1


@dataclass
class Detections:
    """Faces found in one frame, in source-frame pixels.

    ``boxes`` is ``(N, 4)`` x1, y1, x2, y2; ``scores`` ``(N,)``; ``landmarks``
    ``(N, 5, 2)``: left eye, right eye, nose, left and right mouth corner.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> Detections:
        """All the faces of ``parts``, in order."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.boxes for p in parts]).astype(np.float32).reshape(-1, 4),
            np.concatenate([p.scores for p in parts]).astype(np.float32),
            np.concatenate([p.landmarks for p in parts]).astype(np.float32).reshape(-1, 5, 2),
        )

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __getitem__(self, index) -> Detections:
        return Detections(self.boxes[index], self.scores[index], self.landmarks[index])


@dataclass
class Identity:
    """Who a face is: ``name`` is None for a stranger; ``score`` is the cosine similarity."""

    name: Optional[str]
    score: float

    def as_dict(self) -> Dict[str, object]:
        return {"name": self.name, "score": round(float(self.score), 4)}


@dataclass
class Emotion:
    """Dominant emotion with its probability and the full distribution."""

    label: str
    score: float
    probs: Dict[str, float]

    def as_dict(self) -> Dict[str, object]:
        return {
            "label": self.label,
            "score": round(float(self.score), 4),
            "probs": {k: round(float(v), 4) for k, v in self.probs.items()},
        }


@dataclass
class FaceCrop:
    """A face cut from a frame with its quality: what a visitor is enrolled from.

    ``crop`` is RGB; ``box`` and ``landmarks`` are in the crop's pixels."""

    quality: float
    crop: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray


@dataclass
class FaceResult:
    """One analysed face: what ``/analyze``, ``/tracks`` and the renderer show."""

    box: List[float]
    score: float
    identity: Optional[Identity] = None
    emotion: Optional[Emotion] = None
    track_id: Optional[int] = None
    label: Optional[str] = None  # name, or a stable anonymous label such as "visitor-7"
    # False: the face was neither detected nor found by following on this frame; the box is its last known
    # place, not drawn or listed, only blurred by the privacy overlays (a stale blur beats none).
    found: bool = True

    def as_dict(self) -> Dict[str, object]:
        out: Dict[str, object] = {
            "box": [round(float(v), 1) for v in self.box],
            "score": round(float(self.score), 4),
            "identity": self.identity.as_dict() if self.identity else None,
            "emotion": self.emotion.as_dict() if self.emotion else None,
        }
        if self.track_id is not None:
            out["track_id"] = self.track_id
            out["label"] = self.label
        return out


@dataclass
class Event:
    """A per-track event; ``seq`` and ``time`` are given by the store."""

    type: str
    camera: str
    track_id: int
    box: List[float]
    identity: Optional[Identity] = None
    emotion: Optional[Emotion] = None
    data: Dict[str, object] = field(default_factory=dict)
    seq: Optional[int] = None
    time: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Dict[str, object]) -> Event:
        """The inverse of :meth:`as_dict` (used for the open-tracks record kept across restarts)."""
        ident, emo = d.get("identity") or {}, d.get("emotion")
        return cls(
            str(d["type"]),
            str(d["camera"]),
            int(d["track_id"]),  # type: ignore[arg-type]
            list(d["box"]),  # type: ignore[arg-type]
            Identity(ident.get("name"), float(ident.get("score", 0.0))),  # type: ignore[union-attr]
            Emotion(emo["label"], float(emo["score"]), dict(emo["probs"])) if emo else None,  # type: ignore[index]
            dict(d.get("data") or {}),  # type: ignore[arg-type]
        )

    def as_dict(self) -> Dict[str, object]:
        return {
            "seq": self.seq,
            "time": self.time,
            "type": self.type,
            "camera": self.camera,
            "track_id": self.track_id,
            "identity": self.identity.as_dict() if self.identity else {"name": None, "score": 0.0},
            "emotion": self.emotion.as_dict() if self.emotion else None,
            "box": [round(float(v), 1) for v in self.box],
            "data": self.data,
        }


VISITOR_PREFIX = "visitor-"


def visitor_label(visitor_id: int) -> str:
    """The label a stranger is shown with: ``visitor-<id>`` (the id of the track that first brought them)."""
    return f"{VISITOR_PREFIX}{visitor_id}"


def visitor_id_of(label: Optional[str]) -> Optional[int]:
    """The id of a ``visitor-N`` label, else None."""
    if not label or not label.startswith(VISITOR_PREFIX) or not label[len(VISITOR_PREFIX) :].isdigit():
        return None
    return int(label[len(VISITOR_PREFIX) :])
