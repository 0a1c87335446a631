"""Service configuration: one YAML file plus ``EDGE_...`` environment overrides.

Every field has a default that works on a laptop with the bundled demo video.
Unknown keys are rejected so that a typo is an error, not a silently ignored
setting. Nested fields are overridden with a double underscore, for example
``EDGE_SERVER__PORT=9000`` or ``EDGE_SOURCE__URI=rtsp://cam/stream``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, Optional, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.association import ASSOCIATIONS

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_VIDEO = REPO_ROOT / "models" / "demo" / "walking.mp4"
ENV_PREFIX = "EDGE_"
# EDGE_* variables that are not settings: the config file's path, and where tests, training and benchmarks
# find the data sets (edge.datasets, tests/conftest.py).
NOT_SETTINGS = frozenset({"EDGE_CONFIG", "EDGE_DATA", "EDGE_DATA_REQUIRED"})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceConfig(Strict):
    uri: str = Field(
        str(DEMO_VIDEO),
        description="Video file path, camera index ('0'), device ('/dev/video0'), rtsp:// or http:// URL, "
        "or 'csi://0' for the Jetson CSI camera.",
    )
    loop: bool = Field(True, description="Restart a video file at its end (the demo loops).")
    realtime: bool = Field(True, description="Pace a video file at its own frame rate, as a camera would deliver.")
    width: Optional[int] = Field(
        None, description="Capture width to request from a camera (with the hardware decoder: its output width)."
    )
    height: Optional[int] = Field(
        None, description="Capture height to request from a camera (with the hardware decoder: its output height)."
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="First wait before reopening a failed source.")
    reconnect_max_s: float = Field(
        10.0, gt=0, description="Longest wait between reopen attempts (exponential backoff)."
    )
    decoder: Literal["auto", "ffmpeg", "gstreamer"] = Field(
        "auto",
        description="How files and rtsp:// streams are decoded: 'gstreamer' on the Jetson's hardware decoder "
        "(nvv4l2decoder, resized on the VIC), 'ffmpeg' on the CPU (OpenCV), 'auto' the first where it is there.",
    )
    codec: Literal["auto", "h264", "h265"] = Field(
        "auto", description="The stream's codec for the hardware decoder; 'auto' lets GStreamer's decodebin pick."
    )


# Test-time views of a face whose emotion outputs are averaged (edge.emotion.tta_views).
TTA_MODES = ("none", "flip", "zoom")


class DetectorConfig(Strict):
    max_side: int = Field(640, ge=64, description="Frames are downscaled so their longer side is at most this.")
    min_face_px: int = Field(40, ge=12, description="Smallest face to find, in source pixels.")
    every_n_frames: int = Field(
        3,
        ge=1,
        description="Run detection on every Nth analysed frame; the tracker carries the boxes in between "
        "(3 keeps face recall at 99%+ of per-frame detection on the demo video: docs/benchmarks.md).",
    )
    worker: bool = Field(
        True,
        description="Live video: detect on a worker thread of its own (one for all cameras) while the analysis "
        "follows and tracks every frame, the detections carried onto the frame reached when they come; false: "
        "each analysis step that detects waits for it (edge.detection_worker; `python -m bench stream --cameras 1`).",
    )
    thresholds: tuple = Field((0.6, 0.7, 0.8), description="MTCNN P/R/O-Net score thresholds.")
    min_score: float = Field(0.9, ge=0, le=1, description="Drop detections below this final score.")
    recheck_from: float = Field(
        0.6,
        ge=0,
        le=1,
        description="On a downscaled frame, a face scored from this up to min_score is looked for again in the "
        "full-resolution pixels around it and kept if it scores min_score there (edge.detection; docs/tracking.md, "
        "Live detection recall: 97.7% of faces >= 40 px found on the demo instead of 97.1%); min_score or more turns "
        "it off.",
    )
    photo_max_side: int = Field(
        1600, ge=64, description="Still photos (/analyze, enroll) are downscaled to at most this longer side."
    )
    photo_min_face_px: int = Field(20, ge=12, description="Smallest face to find in a still photo, in its pixels.")


class TrackerConfig(Strict):
    iou_match: float = Field(0.3, gt=0, lt=1, description="Least IoU for a detection to continue a track.")
    max_missed: int = Field(8, ge=0, description="Detections a track may miss before it is ended (face.left).")
    min_hits: int = Field(2, ge=1, description="Detections before a track is announced (face.appeared).")
    follow_boxes: bool = Field(
        True,
        description="Carry boxes onto each frame by finding the face near its last place (edge.box_follow), "
        "between detections and, with render.delay_frames 0, on every streamed frame (docs/tracking.md); "
        "off: boxes coast on their velocity between detections, and with render.delay_frames 0 "
        "the stream shows the latest analysis (a held-back stream always carries its boxes, edge.stream_delay).",
    )
    recheck_lost: bool = Field(
        True,
        description="When following loses a face seen at the last detection, search the region around it at full "
        "resolution at once (edge.detection.FaceDetector.detect_near) instead of waiting for the next detection "
        "(docs/tracking.md). Not with association 'bytetrack', nor in the blur overlays "
        "(there the analysis rate, which the searches lower, is what blurs a new face in time).",
    )
    reid_seconds: float = Field(
        10.0,
        ge=0,
        description="At a scene cut a track with an embedding (identity on) waits this long for its face to come "
        "back: the same person in a later shot keeps the track, and face.left is sent when the wait ends. "
        "0: every track ends at the cut (docs/tracking.md).",
    )
    association: str = Field(
        "greedy",
        pattern=f"^({'|'.join(ASSOCIATIONS)})$",
        description="Which detection continues which track (edge.association): 'greedy' (best IoU or centre "
        "distance first, against the followed boxes) or 'bytetrack' (supervision's ByteTrack on the detections); "
        "measured on the annotated videos (docs/tracking.md).",
    )
    scene_cut: float = Field(
        0.3,
        ge=0,
        le=1,
        description="A frame whose colours differ from the previous analysed frame's by more than this "
        "(Bhattacharyya distance of HSV histograms, edge.scene_cut) starts a new shot: every track leaves the "
        "screen (see reid_seconds) and detection runs at once, so no track carries over to someone else; 0 turns "
        "it off.",
    )


class EmotionConfig(Strict):
    enabled: bool = True
    model: str = Field("emotion", description="Name of the emotion model in models/manifest.json.")
    every_n_frames: int = Field(2, ge=1, description="Classify each track's emotion at every Nth detection of it.")
    window: int = Field(8, ge=1, description="Emotion probabilities are averaged over this many recent samples.")
    hysteresis: float = Field(
        0.1, ge=0, le=1, description="A new dominant emotion must lead the current one by this margin to change."
    )
    tta: Optional[str] = Field(
        None,
        pattern=f"^({'|'.join(TTA_MODES)})$",
        description="Test-time views averaged per face: 'none', 'flip' (2 views) or 'zoom' (6). Default: the "
        "model's manifest tta_mode, with which its accuracy was measured; fewer views are faster.",
    )
    uncertain_below: Optional[float] = Field(
        None,
        ge=0,
        le=1,
        description="A face whose smoothed top probability is under this shows '?' and sends no emotion.changed. "
        "Default: the model's manifest value, chosen on PublicTest (docs/models.md); 0 turns it off.",
    )
    int8_calibration: Optional[str] = Field(
        None,
        description="A folder of face images (e.g. a few hundred FER2013 faces, any layout) to calibrate an INT8 "
        "TensorRT engine for the emotion network; unset: FP16. Only used by the tensorrt backend.",
    )
    min_quality: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Faces whose quality (size x sharpness x frontal pose, edge/identity/quality.py) is under this "
        "are not read: no emotion is shown and their time counts as not_read, apart from uncertain. Chosen with "
        "`python -m bench emotion-camera` (docs/models.md); 0 reads every face.",
    )
    cpu_int8: bool = Field(
        True,
        description="Where ONNX Runtime runs on the CPU, use the INT8 network that `python -m training "
        "quantize-emotion` wrote beside the weights (its manifest entry <model>_int8, with its measured "
        "accuracy) when it was quantized from exactly these weights; false: the float network.",
    )


class IdentityConfig(Strict):
    enabled: bool = True
    embedder: Literal["auto", "vggface2", "faceapi", "faceres", "mobileface", "none"] = Field(
        "auto",
        description="'auto' (VGGFace2 when its weights exist, else faceapi), 'vggface2', 'faceapi' (the shipped "
        "128-d descriptor), 'faceres' or 'mobileface' (converted by `python -m training convert-human-identity`; "
        "measured weaker than faceapi, docs/identity.md), or 'none'.",
    )
    threshold: Optional[float] = Field(
        None, description="Cosine similarity below which a face is 'unknown'; default: the embedder's calibrated one."
    )
    min_face_px: int = Field(
        44,
        ge=0,
        description="Faces narrower than this (pixels) are not identified: they keep their visitor label until "
        "they come closer. Small blurred faces are where strangers get someone else's name (docs/identity.md).",
    )
    refresh_frames: int = Field(15, ge=1, description="Recompute a track's identity every N analysed frames.")
    votes: int = Field(5, ge=1, description="A track's name is the vote over this many recent identifications.")
    head: Optional[str] = Field(
        None, description="A classifier head from `python -m training identity`, used instead of the gallery."
    )
    visitor_memory: bool = Field(
        True,
        description="Keep each stranger's mean embedding (never an image; deleted after storage.retention_days "
        "or by DELETE /visitors/{id}) so that a returning stranger keeps their visitor-N label.",
    )
    visitor_threshold: Optional[float] = Field(
        None,
        ge=-1,
        le=1,
        description="Least cosine similarity of a track's mean embedding to a remembered visitor's to take their "
        "label; default: the gallery's threshold.",
    )


class ServerConfig(Strict):
    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 inside Docker.")
    port: int = Field(8080, ge=1, le=65535)
    jpeg_quality: int = Field(80, ge=10, le=100)
    stream_max_side: int = Field(1280, ge=160, description="The stream is downscaled to at most this longer side.")
    max_upload_mb: float = Field(
        10.0, gt=0, description="Largest image file accepted by /analyze and enrollment (checked while it arrives)."
    )
    max_files_per_request: int = Field(10, ge=1, description="Most photos in one enrollment request.")
    max_image_pixels: int = Field(
        40_000_000,
        ge=1,
        description="Largest image (width x height) decoded; read from the file's header before decoding, so a "
        "small file that would unpack into gigabytes (an image bomb) is refused with 413.",
    )
    image_workers: int = Field(1, ge=1, description="Threads that decode and analyse uploaded images.")
    library_threads: int = Field(
        0,
        ge=0,
        description="Threads each library's own pool (OpenCV, PyTorch, ONNX Runtime) may use in `serve`; 0: half "
        "the CPUs the process may run on, at least 1 (edge/thread_budget.py says why and what it measured).",
    )
    image_queue: int = Field(
        4, ge=1, description="Uploads being analysed or waiting; more get 429 with Retry-After (bounds memory)."
    )
    long_poll_max_s: float = Field(30.0, gt=0, description="Upper bound for /events?wait=.")
    stale_after_s: float = Field(
        5.0,
        gt=0,
        description="No frame from the source for this long: /health is 503, /snapshot.jpg 503, tracks end.",
    )
    api_token: Optional[str] = Field(
        None,
        description="Clients send 'Authorization: Bearer <token>' (or log in on the page, which sets a cookie). "
        "Needed for every change, and for reads when protect_reads is on. Redacted in the start-up log.",
    )
    api_token_file: Optional[str] = Field(
        None,
        description="Read the token from this file when api_token is unset; created with a random token (mode 0600) "
        "when missing. The Docker images use /data/api_token.",
    )
    allow_anonymous: bool = Field(
        False,
        description="Serve without a token on an address other than loopback (anyone on the network could then "
        "enroll and delete people). Without it the service refuses to start there.",
    )
    protect_reads: Optional[bool] = Field(
        None,
        description="Require the token for reads too (stream, events, report, identities, tracks); /health stays "
        "open for health checks. Default: on when listening on an address other than loopback.",
    )


class StorageConfig(Strict):
    database: str = Field("data/edge.db", description="SQLite file for events and identities (WAL mode).")
    cache_dir: str = Field(
        "data/cache", description="Exported ONNX files and TensorRT engines, per model sha256 (a volume on the Jetson)."
    )
    retention_days: float = Field(
        30.0, gt=0, description="Events, and the face thumbnails kept with them, older than this are deleted."
    )
    max_thumbnail_mb: float = Field(
        200.0, gt=0, description="Most space the kept face crops of tracks (event thumbnails) take; oldest go first."
    )
    reserve_mb: float = Field(
        8.0,
        ge=0,
        description="Space set aside beside the database and released when the disk fills, so that events keep "
        "being stored (and survive a restart) while /health asks for space to be freed. 0: none.",
    )
    max_pending_events: int = Field(
        100_000,
        ge=1,
        description="Events held in memory while they cannot be stored; beyond, the oldest are "
        "dropped and counted (/health, /metrics).",
    )


class MqttConfig(Strict):
    """Events also published to an MQTT broker, for fleets of devices (off by default)."""

    enabled: bool = False
    host: str = Field("localhost", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = Field(
        "edge",
        pattern=r"^[^#+]+$",
        description="Events go to '<prefix>/<camera>/events'; '<prefix>/<camera>/available' is online/offline "
        "(retained; offline is the last will).",
    )
    qos: int = Field(1, ge=0, le=2, description="MQTT quality of service for events.")
    username: Optional[str] = Field(None, description="Broker user name, when the broker wants one.")
    password: Optional[str] = Field(None, description="Broker password; redacted in the start-up log.")
    max_queued: int = Field(10000, ge=1, description="Events kept while the broker is unreachable; older are dropped.")


OVERLAYS = ("boxes", "emoji", "blur-strangers", "blur-all")


class RenderConfig(Strict):
    overlay: str = Field(
        "boxes",
        pattern=f"^({'|'.join(OVERLAYS)})$",
        description="What the stream and snapshots draw: 'boxes' (box, name, emotion), 'emoji' (boxes and an "
        "emoji of the smoothed emotion), 'blur-strangers' (every face not enrolled is blurred), 'blur-all'. "
        "With a blur mode set here, viewers cannot ask for less blurring (?overlay=).",
    )
    blur_margin: float = Field(
        0.5, ge=0, le=1, description="The blurred region reaches this share of the face size beyond its box."
    )
    delay_frames: int = Field(
        10,
        ge=0,
        le=100,
        description="The stream is held back this many frames, so that each frame is drawn with the analysis "
        "nearest to it (boxes on the faces, not where they were a detection ago) and, in the blur modes, a face "
        "is blurred on the frames before a detection found it too (edge.stream_delay; docs/web-app.md). "
        "0: no delay, boxes carried forward from the latest analysis (tracker.follow_boxes).",
    )


# A camera's name appears in URLs (/cameras/{name}/stream.mjpg), MQTT topics and file names.
CAMERA_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class CameraConfig(Strict):
    """One camera of several: its name and source, and the settings in which it differs from the others."""

    name: str = Field(..., pattern=CAMERA_NAME, description="Name of the camera in events, URLs and MQTT topics.")
    source: SourceConfig = Field(..., description="Where its frames come from (as the top-level `source`).")
    detector: Optional[DetectorConfig] = Field(
        None, description="Detector settings of this camera; keys given here replace the top-level `detector`'s."
    )
    render: Optional[RenderConfig] = Field(
        None, description="Overlay and privacy of this camera's stream; keys given here replace the top-level ones."
    )


def _overridden(base: BaseModel, extra: Optional[BaseModel]) -> Any:
    """``base`` with the keys ``extra`` was given explicitly (not its defaults) taking their place."""
    return base if extra is None else base.model_copy(update=extra.model_dump(exclude_unset=True))


class Settings(Strict):
    """The whole configuration of one service instance."""

    camera: str = Field(
        "demo", pattern=CAMERA_NAME, description="Name of this camera in events (one camera; see `cameras`)."
    )
    cameras: List[CameraConfig] = Field(
        default_factory=list,
        description="Several cameras on one device, each with its name and source (and the detector and render "
        "keys in which it differs); they share the models, the gallery and the event store. Empty: the one "
        "camera of `camera` and `source`.",
    )
    device: str = Field("auto", description="'auto', 'cpu' or 'cuda' for the PyTorch backend.")
    backend: str = Field("auto", description="Inference backend: 'auto', 'torch', 'onnx' or 'tensorrt'.")
    models_dir: str = Field(str(REPO_ROOT / "models"), description="Folder holding manifest.json and model files.")
    analysis_max_fps: float = Field(25.0, gt=0, description="Cap on analysed frames per second.")
    source: SourceConfig = SourceConfig()
    detector: DetectorConfig = DetectorConfig()
    tracker: TrackerConfig = TrackerConfig()
    emotion: EmotionConfig = EmotionConfig()
    identity: IdentityConfig = IdentityConfig()
    server: ServerConfig = ServerConfig()
    render: RenderConfig = RenderConfig()
    storage: StorageConfig = StorageConfig()
    mqtt: MqttConfig = MqttConfig()

    @model_validator(mode="after")
    def _cameras_are_distinct(self) -> Settings:
        for what, key in (("name", lambda c: c.name), ("source", lambda c: c.source.uri)):
            seen: Dict[str, int] = {}
            for i, cam in enumerate(self.cameras):
                if key(cam) in seen:
                    raise ValueError(f"cameras {seen[key(cam)]} and {i} have the same {what} {key(cam)!r}")
                seen[key(cam)] = i
        return self

    def per_camera(self) -> List[Settings]:
        """The settings each camera runs with: these, with its name, source and its own detector and render keys
        (one entry, these settings, when ``cameras`` is empty)."""
        if not self.cameras:
            return [self]
        return [
            self.model_copy(
                update={
                    "camera": cam.name,
                    "cameras": [],
                    "source": cam.source,
                    "detector": _overridden(self.detector, cam.detector),
                    "render": _overridden(self.render, cam.render),
                }
            )
            for cam in self.cameras
        ]


class ConfigError(ValueError):
    """The configuration file or an environment override is invalid."""


def _takes_text(model: Any, path: List[str]) -> bool:
    """Whether the setting at ``path`` (a field of ``model`` or of its sections) is text, so that an
    environment value for it stays the string it is ("0" is camera 0, not the number 0)."""
    for i, name in enumerate(path):
        field = getattr(model, "model_fields", {}).get(name)
        if field is None:
            return False  # an unknown key: validation names it
        annotation = field.annotation
        options = get_args(annotation) if get_origin(annotation) is Union else (annotation,)
        sections = [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]
        if i < len(path) - 1:
            if not sections:
                return False
            model = sections[0]
            continue
        return str in options
    return False


def _env_overrides(environ: Mapping[str, str]) -> Dict[str, Any]:
    """``EDGE_A__B=value`` as ``{"a": {"b": value}}``: text settings take the value as it is, the others
    read it as YAML ("9000" -> 9000, "false" -> False, "[a, b]" -> a list); pydantic then checks the type."""
    tree: Dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key in NOT_SETTINGS:
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        if _takes_text(Settings, path):
            node[path[-1]] = raw
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node[path[-1]] = raw if value is None else value
    return tree


def _merge(base: Dict[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(path: Optional[Path] = None, environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Read ``path`` (or ``$EDGE_CONFIG``), apply ``EDGE_*`` overrides and validate."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get("EDGE_CONFIG"):
        path = Path(environ["EDGE_CONFIG"])
    data: Dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of settings, not {type(loaded).__name__}")
        data = loaded
    data = _merge(data, _env_overrides(environ))
    try:
        return Settings(**data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from exc


def describe(settings: Settings) -> str:
    """The effective configuration as JSON for the start-up log, secrets redacted."""
    data = settings.model_dump()
    for section, key in (("server", "api_token"), ("mqtt", "password")):
        if data[section][key]:
            data[section][key] = "***"
    return json.dumps(data, indent=2, default=str)
