"""ImageWorkers: decoding and analysing uploads off the event loop, in a bounded pool.

The event loop serves every MJPEG viewer and long-poll; a multi-megapixel
decode or a face search on it would freeze them all. Work runs in a few
threads, and at most ``queue`` uploads are in flight: more get 429 with
Retry-After instead of piling up in memory.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from edge.api.errors import ApiError

T = TypeVar("T")


class ImageWorkers:
    """A thread pool with a limit on the uploads it holds."""

    def __init__(self, workers: int, queue: int, retry_after_s: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="images")
        self._slots = threading.BoundedSemaphore(max(queue, workers))
        self.retry_after_s = retry_after_s

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run ``fn(*args)`` in the pool, or raise 429 when the pool is full."""
        if not self._slots.acquire(blocking=False):
            raise ApiError(
                429,
                "too many uploads",
                "the images already sent are being analysed; retry shortly",
                {"Retry-After": str(self.retry_after_s)},
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self._slots.release()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False)
