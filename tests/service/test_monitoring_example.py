"""examples/monitoring_example.py (the guide's script) against the real demo service."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from core.demo import DemoService

from .conftest import fast_config, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "monitoring_example.py"


async def run_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=str(ROOT))
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def test_against_the_demo_over_http():
    svc = DemoService(port=0, clients=6, config=fast_config(MONITORING_TOKEN="tok-example"))
    await svc.start()
    try:
        await wait_for(lambda: asyncio.sleep(0, svc.manager.local_connection_count >= 3), 15, "audience")
        res = await run_script("--url", svc.monitoring_url, "--token", "tok-example", "--cleanup", "5")
        assert "forced cleanup: HTTP 200" in res.stdout, res.stdout + res.stderr
        assert "metrics for external systems: {\"sse_active_connections\": " in res.stdout
        assert "load balancer health check: pass" in res.stdout
        assert res.returncode in (0, 1), res.stdout + res.stderr  # healthy or degraded
        assert "tok-example" not in res.stdout
        wrong = await run_script("--url", svc.monitoring_url, "--token", "nope", "--cleanup", "5")
        assert "forced cleanup: HTTP 403" in wrong.stdout
    finally:
        await svc.stop()


async def test_in_process_guide_api():
    res = await run_script("--in-process", "--cleanup", "5", env={"SSE_PERIODIC_CLEANUP_ENABLED": "true"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Error rate: 0.0%" in res.stdout
    assert "Cleaned 0 connections" in res.stdout
    assert "active=3 redis=3" in res.stdout
