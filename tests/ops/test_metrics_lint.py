"""/metrics output passes `promtool check metrics` (naming, types, help text)."""

from __future__ import annotations

import subprocess

from core.config import load_config
from core.exporters.prometheus import render_metrics
from core.manager import ConnectionManager
from core.store.memory import MemoryStore
from tests.tools import require_binary


async def test_exposition_passes_promtool_check_metrics():
    promtool = require_binary("promtool", "prometheus")
    m = ConnectionManager(MemoryStore(), load_config(PERIODIC_CLEANUP_ENABLED=False))
    await m.start()
    await m.register()
    await m.run_cleanup()
    text = render_metrics(*(await m.metrics_inputs()))
    await m.stop()
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()
    assert proc.stdout.strip() == b"" and proc.stderr.strip() == b"", (proc.stdout + proc.stderr).decode()
