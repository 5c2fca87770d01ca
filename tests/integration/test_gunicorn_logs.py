"""gunicorn + uvicorn workers with examples/gunicorn.conf.py: `sse` lines in the server's format."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
# gunicorn's error_fmt with its datefmt: "[2026-11-27 18:30:00 +0000] [4242] [INFO] message"
GUNICORN_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[(\d+)\] \[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] (.*)$")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sse_lines_match_gunicorns_format(tmp_path):
    pytest.importorskip("gunicorn")
    port = free_port()
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "PYTHONPATH": str(ROOT),
           "SSE_CLEANUP_INTERVAL_SECONDS": "10", "SSE_STALE_CONNECTION_THRESHOLD_SECONDS": "60"}
    env.pop("SSE_REDIS_URL", None)
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "examples" / "gunicorn.conf.py"),
                                 "examples.starlette_mount_app:create_app()"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ops/health/live", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer: " + log_path.read_text()
                time.sleep(0.2)
            # the app's lifespan ran the manager (the sse startup line is logged by then)
            deadline = time.monotonic() + 30
            while "SSE configuration validated successfully" not in log_path.read_text():
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    sse = [line for line in lines if "SSE configuration validated successfully: cleanup_interval=10s" in line]
    booting = [line for line in lines if "Booting worker with pid" in line]
    assert sse and booting, "\n".join(lines)
    m_sse, m_boot = GUNICORN_LINE.match(sse[0]), GUNICORN_LINE.match(booting[0])
    assert m_sse and m_boot, (sse[0], booting[0])
    assert m_sse.group(2) == "INFO"
    assert m_sse.group(3).startswith("SSE configuration validated successfully: ")  # the guide's line, greppable
    uvicorn_started = [line for line in lines if "Application startup complete" in line]
    assert uvicorn_started and GUNICORN_LINE.match(uvicorn_started[0]), "\n".join(lines)
    assert sum("SSE configuration validated successfully" in line for line in lines) == 1  # no duplicates
