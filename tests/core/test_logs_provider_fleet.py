"""Log formats, the provider's one-manager-per-process, the Redis fleet reader, Redis faults."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.fleet import FleetReader
from core.logs import configure_logging, redact
from core.manager import ConnectionManager
from core.provider import SSEProvider
from core.store.base import StoreUnavailable
from core.store.memory import MemoryStore
from core.store.redis import RedisStore


def test_json_and_text_logs_keep_the_guide_lines_greppable():
    buf = io.StringIO()
    handler = configure_logging("json", "INFO", buf)
    try:
        logging.getLogger("sse").info("SSE cleanup completed: cleaned=%d, failed=%d, duration_ms=%.2f, efficiency=%.1f%%", 5, 0, 12.5, 100.0)
        logging.getLogger("sse").info("connecting to redis://:s3cret@db:6379/0 with Bearer abc.def")
    finally:
        logging.getLogger("sse").removeHandler(handler)
        logging.getLogger("sse").propagate = True
    lines = buf.getvalue().splitlines()
    doc = json.loads(lines[0])
    assert doc["message"].startswith("SSE cleanup completed: cleaned=5")
    assert doc["fields"] == {"cleaned": 5, "failed": 0, "duration_ms": 12.5, "efficiency": 100.0}
    assert "s3cret" not in lines[1] and "abc.def" not in lines[1]
    buf = io.StringIO()
    handler = configure_logging("text", "INFO", buf)
    try:
        logging.getLogger("sse").info("Periodic cleanup cycle: cleaned=3 connections")
    finally:
        logging.getLogger("sse").removeHandler(handler)
        logging.getLogger("sse").propagate = True
    assert "Periodic cleanup cycle: cleaned=3 connections" in buf.getvalue()


def test_redact():
    assert redact("rediss://user:pw@h:1/0") == "rediss://***@h:1/0"
    assert redact("Authorization: Bearer tok") == "Authorization: Bearer ***"


async def test_provider_gives_one_started_manager(monkeypatch):
    monkeypatch.delenv("SSE_REDIS_URL", raising=False)
    await SSEProvider.shutdown()
    import core.config as cfgmod
    cfgmod.set_config(None)
    try:
        a = await SSEProvider().get_connection_manager()
        b = await SSEProvider().get_connection_manager()
        assert a is b
        assert isinstance(a.store, MemoryStore)
        assert a.cleanup_task_running
        # the provider hands the process's admission counts in (None while not in use)
        from core.admission import admission_in_use
        assert a.admission_source is admission_in_use
        # a manager nobody handed them to shows none (it never reads a process-wide registry)
        bare = ConnectionManager(MemoryStore(), load_config())
        assert (await bare.monitoring_snapshot()).admission is None
    finally:
        await SSEProvider.shutdown()
        cfgmod.set_config(None)


async def test_provider_uses_redis_when_url_set(redis_url, namespace):
    await SSEProvider.shutdown()
    cfg = load_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace)
    try:
        m = await SSEProvider(cfg).get_connection_manager()
        assert isinstance(m.store, RedisStore) and m.store.keys.namespace == namespace
        await m.register()
        assert (await m.get_detailed_monitoring_stats())["connection_stats"]["redis_connection_counters"] == 1
    finally:
        await SSEProvider.shutdown()


async def test_fleet_reader_sees_workers_and_cleans(redis_url, namespace):
    cfg = load_config(PERIODIC_CLEANUP_ENABLED=False)
    worker = ConnectionManager(RedisStore(redis_url, namespace), cfg, worker_id="w1")
    await worker.start()
    reader = await FleetReader.connect(redis_url, namespace, cfg)
    try:
        for _ in range(3):
            await worker.register(channel="x")
        await worker.flush_touches()
        snap = await reader.snapshot()
        assert snap.connection_stats.active_connections == 3
        assert snap.connection_stats.redis_connection_counters == 3
        assert [w.worker_id for w in snap.workers] == ["w1"]
        assert len(await reader.connections("all", 10, 0)) == 3
        result = await reader.cleanup(5)
        assert result.cleaned == 0 and result.error is None
    finally:
        await reader.close()
        await worker.stop()


async def test_redis_down_degrades_health_and_recovers(outage_redis):
    server, m = outage_redis
    for _ in range(4):
        await m.register()
    server.stop()
    snap = await m.monitoring_snapshot()
    assert snap.health_indicators.overall_health == "unhealthy"
    assert [a.type for a in snap.health_indicators.alerts] == ["state_store_unavailable"]
    assert snap.connection_stats.store_available is False
    # streams go on registering and leaving while Redis is away
    late = await m.register()
    await m.unregister(late.connection_id)
    with pytest.raises(StoreUnavailable):
        await m.run_cleanup()
    server.start()  # same port, empty data
    await m.flush_touches()  # the heartbeat notices, the worker re-registers its streams
    snap = await m.monitoring_snapshot()
    # the store lost the fleet's data: until every live worker has re-registered, the
    # registry's numbers are unknown (never the partial count as current) and no cleanup runs
    assert snap.registry.state == "rebuilding" and snap.connection_stats.active_connections is None
    assert "registry_rebuilding" in {a.type for a in snap.health_indicators.alerts}
    assert (await m.run_cleanup()).skipped is not None
    deadline = time.monotonic() + 10
    while (snap := await m.monitoring_snapshot()).registry.state != "settled":
        assert time.monotonic() < deadline, snap.registry
        await m.flush_touches()
        await asyncio.sleep(0.2)
    assert snap.connection_stats.store_available is True
    assert snap.connection_stats.redis_connection_counters == 4
    assert snap.connection_stats.active_connections == 4
    await m.run_cleanup()
    stats = await m.state_manager.get_cleanup_statistics()
    # the run that could not reach the store is no cleanup error of the fleet's (the store's
    # own alert covered it): only the run after is counted
    assert stats["total_cleanups"] == 1 and stats["cleanup_errors"] == 0


def test_a_plain_script_gets_the_guide_lines_in_json(tmp_path):
    """The library prints nothing by itself; a script that configures logging (here with
    core.logs.configure_logging and SSE_LOG_FORMAT) gets the guide's lines, greppable."""
    import os
    import subprocess
    import sys
    code = (
        "import asyncio, os\n"
        "from core.logs import configure_logging\n"
        "from core.provider import SSEProvider\n"
        "configure_logging(os.environ['SSE_LOG_FORMAT'], 'INFO')\n"
        "async def main():\n"
        "    m = await SSEProvider().get_connection_manager()\n"
        "    await m.cleanup_stale_connections()\n"
        "    await SSEProvider.shutdown()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "SSE_LOG_FORMAT": "json", "SSE_REDIS_URL": "", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("SSE_REDIS_URL")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    docs = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    messages = [d["message"] for d in docs]
    assert any(m.startswith("SSE configuration validated successfully: cleanup_interval=60s") for m in messages), res.stderr
    done = [d for d in docs if d["message"].startswith("SSE cleanup completed")]
    assert done and done[0]["fields"]["cleaned"] == 0 and done[0]["level"] == "INFO"
    assert isinstance(done[0]["fields"]["duration_ms"], float)  # typed as the call passed it


def _run_alone(code: str, **env: str):
    import os
    import subprocess
    import sys
    e = {k: v for k, v in os.environ.items() if not k.startswith("SSE_")}
    e.update(PYTHONPATH=str(Path(__file__).resolve().parents[2]), **env)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=60)
    assert res.returncode == 0, res.stderr
    return res


_ALONE = (
    "import asyncio, logging\n"
    "from core.provider import SSEProvider\n"
    "async def main():\n"
    "    m = await SSEProvider().get_connection_manager()\n"
    "    logging.getLogger('sse').info('SSE quiet: info')\n"
    "    logging.getLogger('sse').warning('SSE state store unavailable: redis://:pw@h:1/0')\n"
    "    logging.getLogger('sse').error('Error during periodic SSE cleanup')\n"
    "    await SSEProvider.shutdown()\n"
    "{setup}"
    "asyncio.run(main())\n"
    "sse = logging.getLogger('sse')\n"
    "print([type(h).__name__ for h in sse.handlers], sse.propagate, sse.level, logging.getLogger().handlers)\n"
)


def test_with_no_logging_configured_warnings_and_errors_still_reach_stderr():
    """Nothing configured (a plain script, ``uvicorn app:app``): warnings and errors are
    printed like uvicorn's lines (INFO is not: the level is Python's default), secrets
    redacted; no handler on the root."""
    res = _run_alone(_ALONE.format(setup=""))
    assert res.stderr.splitlines() == ["WARNING:  SSE state store unavailable: redis://***@h:1/0",
                                       "ERROR:    Error during periodic SSE cleanup"], res.stderr
    assert res.stdout.strip() == "['FallbackHandler'] True 0 []"


def test_once_the_app_configures_logging_the_fallback_is_silent():
    res = _run_alone(_ALONE.format(setup="logging.basicConfig(format='APP %(levelname)s %(message)s')\n"))
    assert res.stderr.splitlines() == ["APP WARNING SSE state store unavailable: redis://:pw@h:1/0",
                                       "APP ERROR Error during periodic SSE cleanup"], res.stderr  # the app's format, once


def test_sse_log_level_and_format_work_in_an_app():
    res = _run_alone(_ALONE.format(setup=""), SSE_LOG_LEVEL="INFO", SSE_LOG_FORMAT="json")
    docs = [json.loads(line) for line in res.stderr.splitlines()]
    assert [d["level"] for d in docs if d["message"].startswith("SSE quiet")] == ["INFO"]
    assert any(d["message"].startswith("SSE configuration validated successfully") for d in docs), res.stderr
    assert res.stdout.startswith("['FallbackHandler'] True 20 ")


async def test_a_root_handler_added_after_start_gets_records_with_fields(monkeypatch):
    """Sentry / OpenTelemetry / a log shipper attach to the root logger after the app
    started: the library's records reach them, with their fields as attributes."""
    monkeypatch.delenv("SSE_REDIS_URL", raising=False)
    await SSEProvider.shutdown()
    import core.config as cfgmod

    cfgmod.set_config(None)
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root = logging.getLogger()
    sse = logging.getLogger("sse")
    m = await SSEProvider().get_connection_manager()
    assert [type(h).__name__ for h in sse.handlers] == ["FallbackHandler"] and sse.propagate
    handler = Collect(level=logging.INFO)
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        await m.register()
        await m.run_cleanup(5)
        sse.info("SSE custom: cleaned=%d", 3, extra={"custom": "yes"})
        from core.logs import sse_extra

        sse.info("SSE explicit: cleaned=%d, batch=%d", 7, 2, extra=sse_extra(cleaned=7, batch=2, name="x"))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        await SSEProvider.shutdown()
        cfgmod.set_config(None)
    done = [r for r in records if r.getMessage().startswith("SSE cleanup completed: cleaned=0, failed=0")]
    assert done, [r.getMessage() for r in records]
    rec = done[0]
    assert rec.cleaned == 0 and rec.failed == 0 and rec.batch_size == 5  # type: ignore[attr-defined]
    assert isinstance(rec.duration_ms, float)  # type: ignore[attr-defined]
    assert rec.sse_fields["threshold_seconds"] == 300.0  # type: ignore[attr-defined]
    custom = next(r for r in records if r.getMessage().startswith("SSE custom"))
    assert custom.cleaned == 3 and custom.custom == "yes"  # type: ignore[attr-defined]
    explicit = next(r for r in records if r.getMessage().startswith("SSE explicit"))
    assert explicit.sse_fields == {"cleaned": 7, "batch": 2, "name": "x"}  # type: ignore[attr-defined]
    assert explicit.name == "sse" and explicit.sse_name == "x"  # type: ignore[attr-defined]
