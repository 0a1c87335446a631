"""EventSink: where every camera's events and kept faces go, and what keeps storage going when the disk does not.

It owns the event store, the kept face crops, the storage reserve, the events waiting to be stored (a full or
read-only disk), each camera's record of tracks on screen, retention and MQTT. The cameras' analysis threads
hand it their events; it is safe to call from all of them at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Deque, Dict, List, Optional, Sequence

from edge.config import Settings
from edge.events import EventStore, OpenTracks
from edge.identity.visitors import VisitorMemory
from edge.metrics import Metrics
from edge.mqtt import MqttPublisher
from edge.sqlite import StorageError, StorageReserve
from edge.track_crops import TrackCropStore
from edge.types import Event, FaceCrop

log = logging.getLogger(__name__)

RETENTION_EVERY_S = 3600.0  # how often old events and face crops are deleted while running


class EventSink:
    """Stores events in order, keeps the faces they show, and says what went wrong with storage (``problems``)."""

    def __init__(
        self, settings: Settings, metrics: Metrics, cameras: Sequence[str], visitors: Optional[VisitorMemory]
    ) -> None:
        storage = settings.storage
        self.storage = storage
        self.metrics = metrics
        self.visitors = visitors
        self.storage_problem: Optional[str] = None
        self.reserve = StorageReserve(storage.database, storage.reserve_mb)
        self.events = EventStore(storage.database)
        if not self.reserve.ensure():
            log.warning("no room for the %g MB storage reserve %s", storage.reserve_mb, self.reserve.path)
        self.crops = TrackCropStore(storage.database)
        self._lock = threading.RLock()  # one batch at a time: the pending events keep their order
        self._pending: Deque[Event] = deque()  # events not stored yet (disk full or read-only)
        self.dropped_events = 0
        self.apply_retention()
        self.mqtt: Optional[MqttPublisher] = None
        self.mqtt_problem: Optional[str] = None
        self._mqtt_where = f"{settings.mqtt.host}:{settings.mqtt.port}"
        if settings.mqtt.enabled:
            try:
                self.mqtt = MqttPublisher(settings.mqtt, cameras)
            except (RuntimeError, ValueError, OSError) as exc:
                self.mqtt_problem = str(exc)
                log.error("MQTT is off: %s", exc)

    @property
    def pending(self) -> int:
        """How many events wait in memory to be stored."""
        return len(self._pending)

    def close_open_tracks(self, camera: str) -> None:
        """face.left for the tracks a previous run of ``camera`` left open (a crash or power loss)."""
        try:
            closed = self.events.close_open_tracks(camera)
            if closed:
                log.info("%s: closed %d tracks the previous run left open (closed_by=restart)", camera, len(closed))
        except StorageError as exc:
            self._failed(exc)

    def apply_retention(self) -> None:
        """Delete events, kept face crops and visitors older than storage.retention_days (at start, then hourly)."""
        self._retention_at = time.monotonic()
        days = self.storage.retention_days
        try:
            removed = self.events.delete_older_than(days), self.crops.delete_older_than(days)
            if any(removed):
                log.info("retention: deleted %d events and %d face crops older than %g days", *removed, days)
            if self.visitors is not None and self.visitors.delete_older_than(days):
                log.info("retention: forgot visitors not seen for %g days", days)
        except StorageError as exc:  # a read-only or full volume: serve anyway, and say so
            self._failed(exc)

    def retention_due(self) -> None:
        """Apply retention if the last pass is an hour old."""
        if time.monotonic() - self._retention_at > RETENTION_EVERY_S:
            self.apply_retention()

    def keep_crops(self, camera: str, kept: Dict[int, List[FaceCrop]]) -> None:
        """Keep the best faces of ``camera``'s tracks (the thumbnails and search faces of their events)."""
        kept = {track_id: crops for track_id, crops in kept.items() if crops}
        if not kept:
            return
        try:
            for track_id, crops in kept.items():
                self.crops.save(camera, track_id, crops)
            self.crops.enforce_limit(int(self.storage.max_thumbnail_mb * 1024 * 1024))
        except StorageError as exc:
            self._failed(exc)

    def store(self, events: List[Event], open_tracks: Optional[OpenTracks] = None) -> bool:
        """Store events in order, with ``open_tracks`` (a camera's record of tracks on screen) in the same
        transaction. When storage fails they wait in memory (bounded, drops counted) and go with the next batch;
        a full disk first releases the reserve so that storing goes on. Returns whether the batch was stored."""
        with self._lock:
            # Only events that failed to store wait in _pending (health reports them): the batch in flight does not.
            batch = [*self._pending, *events]
            if not batch and open_tracks is None:
                return True
            for attempt in range(2):
                try:
                    self.events.append(batch, open_tracks=open_tracks)
                except StorageError as exc:
                    if attempt == 0 and exc.kind == "full" and self.reserve.release():
                        log.error("disk full: released the storage reserve %s; free space now", self.reserve.path)
                        continue
                    self._failed(exc)
                    overflow = max(len(batch) - self.storage.max_pending_events, 0)
                    self.dropped_events += overflow
                    self._pending = deque(batch[overflow:])
                    return False
                break
            self._pending.clear()
            self.storage_problem = None
            self.metrics.inc("events_total", len(batch))
            if self.mqtt is not None:
                self.mqtt.publish(batch)  # after SQLite: the broker only ever sees stored events
            return True

    def retry(self) -> None:
        """Store what waits, if anything does."""
        if self._pending:
            self.store([])

    def save_open_tracks(self, camera: str, would_leave: Sequence[Event]) -> None:
        """Rewrite ``camera``'s record of tracks on screen (what a crash would close at the next start)."""
        try:
            self.events.save_open_tracks(camera, would_leave)
        except StorageError as exc:
            self._failed(exc)

    def _failed(self, exc: StorageError) -> None:
        if str(exc) != self.storage_problem:
            log.error("%s", exc)
        self.storage_problem = str(exc)
        self.metrics.inc("event_write_errors_total")

    def problems(self) -> Dict[str, str]:
        """What is wrong with storage and MQTT, for /health."""
        problems: Dict[str, str] = {}
        if self.mqtt_problem:
            problems["mqtt"] = self.mqtt_problem
        storage = [self.storage_problem] if self.storage_problem else []
        if self._pending:
            storage.append(f"{len(self._pending)} events wait in memory to be stored")
        if self.dropped_events:
            storage.append(f"{self.dropped_events} events were dropped (over storage.max_pending_events)")
        if self.reserve.released:
            storage.append("the disk filled up and the storage reserve was released: free space on the data volume")
        if storage:
            problems["storage"] = "; ".join(storage)
        if self.mqtt is not None and not self.mqtt.connected:
            problems["mqtt"] = f"not connected to {self._mqtt_where}; retrying"
        return problems

    def close(self) -> None:
        """Say how many events could not be stored, then close MQTT and the stores."""
        if self._pending:  # not stored: the record still holds them, so the next start closes them
            log.error("%d events could not be stored before exit: %s", len(self._pending), self.storage_problem)
        if self.mqtt is not None:
            self.mqtt.close()
        self.events.close()
        self.crops.close()
