"""A user's service started the way its owner starts it: ``uvicorn module:app [--workers N]``
in a process of its own, its output captured to a file, stopped with SIGTERM (then kill)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]

# fast settings (flushes, heartbeats) so a test sees changes in well under a second
FAST_ENV = {"SSE_TOUCH_FLUSH_INTERVAL_SECONDS": "0.2", "SSE_PING_INTERVAL_SECONDS": "0.5",
            "SSE_WORKER_HEARTBEAT_TTL_SECONDS": "3", "SSE_REDIS_TIMEOUT_SECONDS": "1"}


class ServiceProcess:
    def __init__(self, target: str, log_path: Path, *, workers: int | None = None, env: dict[str, str] | None = None,
                 cwd: Path = ROOT, extra_args: list[str] | None = None, clean_env: bool = True) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        base = {k: v for k, v in os.environ.items() if not (clean_env and k.startswith(("SSE_", "PROMETHEUS_")))}
        e = {**base, "PYTHONPATH": str(ROOT), **(env or {})}
        args = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(self.port),
                "--timeout-graceful-shutdown", "5", *(extra_args or [])]
        if workers:
            args += ["--workers", str(workers)]
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(args, env=e, cwd=str(cwd), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # its workers share its process group

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_http(self, path: str, timeout: float = 60.0, **kwargs: Any) -> httpx.Response:
        """Poll ``path`` until it answers 200 (fail with the server's output otherwise)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            assert self.proc.poll() is None, f"the service exited ({self.proc.returncode}):\n{self.output()[-4000:]}"
            try:
                r = httpx.get(self.base_url + path, timeout=3, **kwargs)
                if r.status_code == 200:
                    return r
                last = r.status_code
            except httpx.HTTPError as exc:
                last = exc
            assert time.monotonic() < deadline, f"{path} did not answer 200 in {timeout}s (last: {last}):\n{self.output()[-4000:]}"
            time.sleep(0.1)

    def wait_output(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in (out := self.output()):
            assert time.monotonic() < deadline, f"{text!r} not printed in {timeout}s:\n{out[-4000:]}"
            time.sleep(0.1)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the supervisor and its workers
                self.proc.wait(10)
        self._log.close()
