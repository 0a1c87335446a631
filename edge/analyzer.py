"""FaceAnalyzer: detection, identity and emotion for one image, and enrollment.

``/analyze``, ``python -m edge analyze`` and ``python -m edge enroll`` go
through this class, and the live pipeline uses the same components through
:class:`edge.video.VideoAnalyzer`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from edge.crops import square_box
from edge.detection import FaceDetector
from edge.emotion import EmotionClassifier
from edge.identity.embedders import Embedder, embedding_key
from edge.identity.gallery import IdentityGallery, validate_name
from edge.identity.head import IdentityHead
from edge.identity.visitors import VisitorMemory
from edge.types import Detections, Emotion, FaceCrop, FaceResult, Identity

log = logging.getLogger(__name__)


class ImageError(ValueError):
    """An uploaded or given image cannot be used (not an image, no face, several faces)."""


class ImageTooLarge(ImageError):
    """The image has more pixels than allowed (checked from its header, before decoding)."""


def image_size(data: bytes) -> Tuple[int, int]:
    """(width, height) read from the file's header alone, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageError("the file is not an image (JPEG, PNG, BMP, WebP, TIFF)") from exc
    except Image.DecompressionBombError as exc:  # over Pillow's own limit (it says how many pixels)
        raise ImageTooLarge(f"{exc}".split(" exceeds")[0]) from exc


def decode_image(data: bytes, max_pixels: Optional[int] = None) -> np.ndarray:
    """Bytes of a JPEG/PNG/BMP/WebP/TIFF file -> BGR array, or ImageError.

    With ``max_pixels`` the size is read from the header first: a small file that would decode
    into gigabytes (an image bomb) is refused with :class:`ImageTooLarge` before any pixel is unpacked.
    """
    if not data:
        raise ImageError("the file is empty")
    if max_pixels is not None:
        limit = f"the limit is {max_pixels / 1e6:g} megapixels (server.max_image_pixels): send a smaller image"
        try:
            width, height = image_size(data)
        except ImageTooLarge as exc:
            raise ImageTooLarge(f"{exc}; {limit}") from exc
        if width * height > max_pixels:
            raise ImageTooLarge(f"{width}x{height} is {width * height / 1e6:.0f} megapixels; {limit}")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ImageError("the file is not an image OpenCV can decode (JPEG, PNG, BMP, WebP, TIFF)")
    return img


@dataclass
class FaceAnalyzer:
    """The three models plus the gallery; each part may be absent (then it is skipped, and said so)."""

    detector: FaceDetector
    emotion: Optional[EmotionClassifier] = None
    embedder: Optional[Embedder] = None
    gallery: Optional[IdentityGallery] = None
    threshold: Optional[float] = None
    identity_min_face_px: int = 0  # narrower faces are not identified (None), see IdentityConfig.min_face_px
    photo_max_side: int = 1600  # still photos get a finer search than live frames
    photo_min_face_px: int = 20
    head: Optional[IdentityHead] = None  # the trained classifier, when configured instead of the gallery
    visitors: Optional[VisitorMemory] = None  # strangers' embeddings, so a returning one keeps their id
    visitor_threshold: Optional[float] = None  # least similarity to a remembered visitor; default: the gallery's
    problems: Dict[str, str] = field(default_factory=dict)  # component -> why it is not running

    @property
    def identity_threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return self.embedder.threshold if self.embedder is not None else 1.0

    def identify(self, frame_bgr: np.ndarray, dets: Detections) -> List[Optional[Identity]]:
        """Gallery match for every face of ``dets`` in one batch.

        None for a face when identity is off or the face is narrower than ``identity_min_face_px``
        (not identified yet, which is not the same as identified as a stranger).
        """
        return self.name_faces(self.embed(frame_bgr, dets))

    def embed(self, frame_bgr: np.ndarray, dets: Detections) -> List[Optional[np.ndarray]]:
        """The embedder's vector of every face of ``dets`` in one batch; None for a face narrower than
        ``identity_min_face_px``, and for every face when no embedder is loaded."""
        out: List[Optional[np.ndarray]] = [None] * len(dets)
        if self.embedder is None or len(dets) == 0:
            return out
        big = np.flatnonzero(dets.boxes[:, 2] - dets.boxes[:, 0] >= self.identity_min_face_px)
        if len(big) == 0:
            return out
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        vectors = self.embedder.embed_chips(self.embedder.chips(rgb, dets.boxes[big], dets.landmarks[big]))
        for i, vector in zip(big, vectors):
            out[int(i)] = vector
        return out

    def name_faces(self, vectors: Sequence[Optional[np.ndarray]]) -> List[Optional[Identity]]:
        """The gallery's (or the trained head's) answer for each vector of :meth:`embed`; None where it is None."""
        out: List[Optional[Identity]] = [None] * len(vectors)
        have = [i for i, v in enumerate(vectors) if v is not None]
        if self.embedder is None or self.gallery is None or not have:
            return out
        batch = np.stack([vectors[i] for i in have])
        if self.head is not None:
            found = self.head.predict(batch)
        else:
            found = self.gallery.match(batch, embedding_key(self.embedder), self.identity_threshold)
        for i, ident in zip(have, found):
            out[i] = ident
        return out

    def classify_emotions(self, frame_bgr: np.ndarray, boxes: np.ndarray) -> Optional[np.ndarray]:
        if self.emotion is None or len(boxes) == 0:
            return None
        return self.emotion.classify(frame_bgr, boxes)

    def emotion_of(self, probs: np.ndarray) -> Emotion:
        assert self.emotion is not None
        k = int(np.argmax(probs))
        return Emotion(self.emotion.classes[k], float(probs[k]), dict(zip(self.emotion.classes, map(float, probs))))

    def analyze_image(self, frame_bgr: np.ndarray) -> List[FaceResult]:
        """Every face in one still image, with identity and emotion."""
        dets = self.detector.detect(frame_bgr, self.photo_max_side, self.photo_min_face_px)
        identities = self.identify(frame_bgr, dets)
        probs = self.classify_emotions(frame_bgr, dets.boxes)
        out = []
        for i in range(len(dets)):
            out.append(
                FaceResult(
                    box=dets.boxes[i].tolist(),
                    score=float(dets.scores[i]),
                    identity=identities[i],
                    emotion=self.emotion_of(probs[i]) if probs is not None else None,
                )
            )
        return out

    def sync_gallery(self) -> int:
        """Embed stored faces that lack an embedding from the current embedder (after switching models)."""
        if self.embedder is None or self.gallery is None:
            return 0
        key = embedding_key(self.embedder)
        missing = self.gallery.faces_without(key)
        for face_id, crop, box, landmarks in missing:
            chips = self.embedder.chips(crop, box[None], landmarks[None])
            self.gallery.set_embedding(face_id, key, self.embedder.embed_chips(chips)[0])
        if missing:
            log.info("re-embedded %d enrolled faces with %s", len(missing), key)
        return len(missing)

    def enroll(
        self,
        name: str,
        images: Sequence[np.ndarray],
        labels: Optional[Sequence[str]] = None,
        face: str = "auto",
    ) -> List[Dict[str, object]]:
        """Add one face per image to ``name``; returns, per photo, the box enrolled and why that face.

        ``face`` picks the face in photos with several (see :func:`choose_face`). All photos are checked
        before any is stored: one unusable photo leaves the gallery unchanged.
        """
        if self.embedder is None or self.gallery is None:
            raise ImageError(f"identity is off: {self.problems.get('identity', 'no embedder loaded')}")
        name = validate_name(name)
        if not images:
            raise ImageError("give at least one photo")
        labels = list(labels) if labels else [f"photo {i + 1}" for i in range(len(images))]
        prepared = [(img, *self.photo_face(img, label, face, name), label) for img, label in zip(images, labels)]
        faces, chosen = [], []
        for img, dets, reason, label in prepared:
            rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            vector = self.embedder.embed_chips(self.embedder.chips(rgb, dets.boxes, dets.landmarks))[0]
            crop, box, landmarks = face_crop(rgb, dets.boxes[0], dets.landmarks[0])
            faces.append((crop, box, landmarks, vector))
            chosen.append({"photo": label, "box": [round(float(v), 1) for v in dets.boxes[0]], "chosen": reason})
        self.gallery.add_faces(name, faces, embedding_key(self.embedder))
        return chosen

    def photo_face(self, img: np.ndarray, label: str, face: str = "auto", name: str = "this person"):
        """The one face of a photo that enrollment or search is about: (its Detections, why that one).
        ImageError when there is none, or several and ``face`` does not say which (see :func:`choose_face`)."""
        dets = self.detector.detect(img, self.photo_max_side, self.photo_min_face_px)
        if len(dets) == 0:
            raise ImageError(f"{label}: no face found; use a photo where the face is at least 40 px and frontal")
        index, reason = choose_face(dets.boxes, img.shape[1], img.shape[0], face, label, name)
        return dets[index : index + 1], reason

    def photo_vector(self, img: np.ndarray, label: str, face: str = "auto") -> Tuple[np.ndarray, List[float], str]:
        """The embedding of the face :meth:`photo_face` picks, its box and why that face."""
        embedder = self._embedder_or_refuse()
        dets, reason = self.photo_face(img, label, face)
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        vector = embedder.embed_chips(embedder.chips(rgb, dets.boxes, dets.landmarks))[0]
        return vector, [round(float(v), 1) for v in dets.boxes[0]], reason

    def crop_vectors(self, crops: Sequence[FaceCrop]) -> Tuple[List[FaceCrop], np.ndarray]:
        """The kept crops of a track that can be identified, and their embeddings; ImageError when none can."""
        embedder = self._embedder_or_refuse()
        # Thumbnails keep faces of every size; a face too small to be identified, or of next to no quality
        # (turned away, or a blur), would only make a template that matches nobody.
        usable = [
            c for c in crops if c.box[2] - c.box[0] >= self.identity_min_face_px and c.quality >= MIN_ENROLL_QUALITY
        ]
        if not usable:
            raise ImageError(
                f"the kept faces of this visitor are narrower than identity.min_face_px ({self.identity_min_face_px}"
                " px) or unusable (turned away, blurred): use a photo instead"
            )
        vectors = [
            embedder.embed_chips(embedder.chips(c.crop, np.asarray(c.box)[None], np.asarray(c.landmarks)[None]))[0]
            for c in usable
        ]
        return usable, np.stack(vectors)

    def _embedder_or_refuse(self) -> Embedder:
        if self.embedder is None or self.gallery is None:
            raise ImageError(f"identity is off: {self.problems.get('identity', 'no embedder loaded')}")
        return self.embedder

    def enroll_crops(self, name: str, crops: Sequence[FaceCrop]) -> List[Dict[str, object]]:
        """Enroll ``name`` from a track's kept crops (best quality first), in one transaction."""
        self._embedder_or_refuse()
        name = validate_name(name)
        crops, vectors = self.crop_vectors(crops)
        faces = [(c.crop, c.box, c.landmarks, v) for c, v in zip(crops, vectors)]
        self.gallery.add_faces(name, faces, embedding_key(self.embedder))
        return [{"quality": round(float(c.quality), 3), "size_px": round(float(c.box[2] - c.box[0]))} for c in crops]


# Least quality (edge.identity.quality, in [0, 1]) of a visitor's kept face to enroll it: a judgment, not a
# measurement; it only refuses faces that score next to nothing on size, sharpness or frontal pose.
MIN_ENROLL_QUALITY = 0.01

# A face is taken from a photo with several when it is the largest, by at least this area ratio, and the one
# nearest the centre. Measured on lfw_calib (783 photos, 113 with 2+ faces): the largest face was not the
# photo's subject only at ratios <= 1.24, so 1.5 took 90 of the 113 with no wrong pick; the rest are refused
# with their boxes, to choose from.
DOMINANT_AREA_RATIO = 1.5
FACE_CHOICES = ("auto", "largest", "center")


def choose_face(boxes: np.ndarray, width: int, height: int, face: str, label: str, name: str) -> Tuple[int, str]:
    """Which of the faces in a photo to enroll: (index, why), or ImageError listing the faces.

    ``face``: 'auto' (the only face, or the clearly dominant one), 'largest', 'center', or a 1-based
    number in the order ``/analyze`` lists the faces.
    """
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    nearest = int(np.argmin(np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)))
    largest = int(np.argmax(area))
    if face == "largest":
        return largest, "largest"
    if face == "center":
        return nearest, "nearest the centre"
    if face.isdigit():
        number = int(face)
        if not 1 <= number <= len(boxes):
            raise ImageError(f"{label}: face {number} asked for, but {len(boxes)} face(s) found")
        return number - 1, f"face {number}"
    if face != "auto":
        raise ImageError(f"face must be auto, largest, center or a face number, not {face!r}")
    if len(boxes) == 1:
        return 0, "only face"
    second = np.sort(area)[-2]
    if largest == nearest and area[largest] >= DOMINANT_AREA_RATIO * second:
        return largest, "dominant (largest and nearest the centre)"
    listed = "; ".join(f"{i + 1}: [{', '.join(f'{v:.0f}' for v in b)}]" for i, b in enumerate(boxes))
    raise ImageError(
        f"{label}: {len(boxes)} faces found and none clearly is {name} ({listed}); choose one with "
        "face=largest, face=center or face=<number>"
    )


def face_crop(rgb: np.ndarray, box: np.ndarray, landmarks: np.ndarray, margin: float = 0.6, max_side: int = 400):
    """A generous square crop around a face, kept so that any embedder can re-cut its chip later."""
    sq = square_box(box, margin)
    x1, y1 = int(max(sq[0], 0)), int(max(sq[1], 0))
    x2, y2 = int(min(sq[2], rgb.shape[1])), int(min(sq[3], rgb.shape[0]))
    crop = rgb[y1:y2, x1:x2]
    scale = min(1.0, max_side / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(
            crop, (round(crop.shape[1] * scale), round(crop.shape[0] * scale)), interpolation=cv2.INTER_AREA
        )
    offset = np.array([x1, y1], np.float64)
    new_box = (np.asarray(box, np.float64).reshape(2, 2) - offset).reshape(4) * scale
    return np.ascontiguousarray(crop), new_box, (np.asarray(landmarks, np.float64) - offset) * scale
