"""The user's service under plain ``uvicorn app:app`` (no logging configured by the app):
the library's warnings reach the terminal beside uvicorn's own lines, in their format."""

from __future__ import annotations

import re
import shutil

from tests.integration.service_process import ROOT, ServiceProcess


def test_plain_uvicorn_prints_the_validation_warning(tmp_path):
    shutil.copy(ROOT / "examples" / "service_app.py", tmp_path / "app.py")
    svc = ServiceProcess("app:app", tmp_path / "out.log", cwd=tmp_path,
                         env={"SSE_CLEANUP_INTERVAL_SECONDS": "5", "ADMIN_KEY": "k"})
    try:
        svc.wait_http("/ops/health/ready")
        out = svc.wait_output("SSE configuration validation warnings:")
    finally:
        svc.stop()
    lines = out.splitlines()
    warning = [line for line in lines if "SSE configuration validation warnings:" in line]
    assert len(warning) == 1, out
    assert re.match(r"^WARNING:  SSE configuration validation warnings: cleanup interval too short \(5s < 10s\)", warning[0]), warning[0]
    assert any(line.startswith("INFO:     Application startup complete.") for line in lines), out  # uvicorn's, alike
    assert not any("SSE configuration validated successfully" in line for line in lines)  # INFO: Python's default level
