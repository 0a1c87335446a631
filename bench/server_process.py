"""Start the real service in a subprocess on a loopback port (end-to-end tests, the stream benchmark)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m edge serve`` with a temp database; waits until the first frame is served."""

    def __init__(
        self,
        database: Path,
        env: Optional[Dict[str, str]] = None,
        log: Optional[Path] = None,
        inherit_edge_env: bool = True,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = database
        # inherit_edge_env=False: the server sees no EDGE_* setting but those in ``env`` (a container's).
        self.env = {k: v for k, v in os.environ.items() if inherit_edge_env or not k.startswith("EDGE_")}
        self.env.update({"EDGE_STORAGE__DATABASE": str(database), "PYTHONUNBUFFERED": "1"})
        self.env.update(env or {})
        self.log_path = log or database.with_suffix(".log")
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 120, ready: bool = True) -> ServerProcess:
        """Wait until the first frame is served (``ready``) or, with ``ready=False``, until /health answers."""
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                health = httpx.get(self.url + "/health", timeout=2).json()
                if health.get("ready") or (not ready and health.get("problems", {}).get("source")):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The most resident memory the server has held so far (VmHWM), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM in /proc/{self.proc.pid}/status")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
