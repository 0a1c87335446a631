"""Notifier: lets worker threads wake asyncio waiters (long-polls, SSE, MJPEG clients)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Callable, Set, Tuple


class Notifier:
    """A version counter that threads bump and coroutines await."""

    def __init__(self) -> None:
        self.version = 0
        self._waiters: Set[Tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()

    def notify(self) -> None:
        with self._lock:
            self.version += 1
            waiters = list(self._waiters)
        for loop, flag in waiters:
            with contextlib.suppress(RuntimeError):  # that client's loop has closed
                loop.call_soon_threadsafe(flag.set)

    async def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` is true (checked after each notify) or ``timeout`` passes."""
        if ready():
            return True
        loop = asyncio.get_running_loop()
        flag = asyncio.Event()
        entry = (loop, flag)
        with self._lock:
            self._waiters.add(entry)
        try:
            deadline = loop.time() + timeout
            while not ready():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                flag.clear()
                try:
                    await asyncio.wait_for(flag.wait(), remaining)
                except asyncio.TimeoutError:
                    return ready()
            return True
        finally:
            with self._lock:
                self._waiters.discard(entry)
