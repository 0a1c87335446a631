"""MjpegBroadcaster: one JPEG per output frame, shared by every viewer.

Viewers never queue frames: each waits for a newer JPEG than the last one it
sent and gets the newest, so a slow viewer skips frames instead of slowing
the pipeline or anyone else.
"""

from __future__ import annotations

import threading
from typing import AsyncIterator, Optional, Tuple

from edge.notify import Notifier

BOUNDARY = "frame"


class MjpegBroadcaster:
    """Holds the newest encoded frame and streams it to any number of clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jpeg: Optional[bytes] = None
        self._index = 0
        self.notifier = Notifier()
        self.viewers = 0

    def publish(self, jpeg: bytes) -> None:
        with self._lock:
            self._jpeg = jpeg
            self._index += 1
        self.notifier.notify()

    def latest(self) -> Tuple[int, Optional[bytes]]:
        with self._lock:
            return self._index, self._jpeg

    async def wait_newer(self, seen: int, timeout: float) -> Tuple[int, Optional[bytes]]:
        await self.notifier.wait_until(lambda: self._index > seen, timeout)
        return self.latest()

    async def stream(self, idle_timeout: float = 10.0) -> AsyncIterator[bytes]:
        """multipart/x-mixed-replace parts, newest frame each time."""
        self.viewers += 1
        try:
            seen = 0
            while True:
                index, jpeg = await self.wait_newer(seen, idle_timeout)
                if jpeg is None or index == seen:
                    continue  # nothing new yet: keep the connection, wait again
                seen = index
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n").encode()
                yield head + jpeg + b"\r\n"
        finally:
            self.viewers -= 1
