"""One auth story, on the user's service (examples/service_app.py) under a real uvicorn:
its admin dependency on ``X-Admin-Key`` is the one check of every monitoring endpoint,
reads and actions; ``SSE_MONITORING_TOKEN`` (set, and different) opens nothing; every
refusal names the check; ``sse-dash --url ... --header`` gets in and lists the connections,
and the header's value appears in no output, process list or recording."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sse_tui.app import make_app
from sse_tui.cli import build_parser, make_source
from sse_tui.recording import Recorder
from tests.integration.service_process import FAST_ENV, ROOT, ServiceProcess
from tests.service.conftest import close_clients, open_clients, wait_for

KEY = "adm-5d1e-secret"
TOKEN = "the-bearer-token-9c2"
ADMIN = {"X-Admin-Key": KEY}


@pytest.fixture
def service(tmp_path):
    svc = ServiceProcess("examples.service_app:app", tmp_path / "service.log",
                         env={**FAST_ENV, "ADMIN_KEY": KEY, "SSE_MONITORING_TOKEN": TOKEN})
    try:
        svc.wait_http("/ops/health/ready")
        yield svc
    finally:
        svc.stop()


READS = ["/ops/monitoring", "/ops/monitoring/connections", "/ops/monitoring/channels", "/ops/monitoring/history",
         "/ops/monitoring/auth"]


async def test_the_apps_dependency_is_the_one_check_everywhere(service):
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        clients = await open_clients("127.0.0.1", service.port, 3, path="/ticks")
        try:
            async def three() -> list[dict] | None:
                r = await http.get("/ops/monitoring/connections", headers=ADMIN)
                return r.json()["connections"] if r.status_code == 200 and r.json()["total"] == 3 else None

            conns = await wait_for(three, 15, "3 streams listed")
            cid = conns[0]["connection_id"]
            reads = [*READS, f"/ops/monitoring/connections/{cid}"]
            actions = [("POST", "/ops/monitoring/cleanup"), ("DELETE", f"/ops/monitoring/connections/{cid}"),
                       ("POST", "/ops/monitoring/workers/no-such-worker/reap")]
            for method, path in [*(("GET", p) for p in reads), *actions]:
                for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}, {"X-Admin-Key": "wrong"}):
                    r = await http.request(method, path, headers=headers)
                    assert r.status_code == 401, (method, path, headers, r.text)
                    body = r.json()
                    assert body["check"] == "app_dependency", body
                    assert body["error"] == "refused by the app's auth dependency (require_admin): X-Admin-Key required"
                    assert body["detail"] == "X-Admin-Key required"  # the dependency's own, unchanged
            for path in reads:
                r = await http.get(path, headers=ADMIN)
                assert r.status_code == 200, (path, r.text)
                assert KEY not in r.text and TOKEN not in r.text
            assert (await http.get("/ops/monitoring/auth", headers=ADMIN)).json() == {"ok": True, "check": "app_dependency"}
            cleaned = await http.post("/ops/monitoring/cleanup", headers=ADMIN, json={"batch_size": 5})
            assert cleaned.status_code == 200 and cleaned.json()["error"] is None, cleaned.text
            gone = await http.delete(f"/ops/monitoring/connections/{cid}", headers=ADMIN)
            assert gone.status_code == 200, gone.text  # actions enabled by the app's check alone
            reap = await http.post("/ops/monitoring/workers/no-such-worker/reap", headers=ADMIN)
            assert reap.status_code == 404 and reap.json()["error"] == "no such worker"
            for probe in ("/ops/health/live", "/ops/health/ready"):
                assert (await http.get(probe)).status_code == 200, probe  # probes: never behind auth
        finally:
            await close_clients(clients)
    assert KEY not in service.output() and TOKEN not in service.output()


def _sse_dash(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("SSE_")}
    return subprocess.run([sys.executable, "-m", "sse_tui", *args], capture_output=True, text=True, timeout=60,
                          env={**e, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=ROOT)


async def test_sse_dash_sends_the_apps_header_and_says_which_check_refused(service, tmp_path):
    url = f"{service.base_url}/ops/monitoring"
    refused = await asyncio.to_thread(_sse_dash, "--url", url, "--once")
    assert refused.returncode == 3
    assert "refused by the app's auth dependency (require_admin): X-Admin-Key required" in refused.stderr
    assert "--header" in refused.stderr  # what to do about it
    wrong = await asyncio.to_thread(_sse_dash, "--url", url, "--once", env={"SSE_MONITORING_TOKEN": TOKEN})
    assert wrong.returncode == 3 and "refused by the app's auth dependency" in wrong.stderr

    by_env = await asyncio.to_thread(_sse_dash, "--url", url, "--once", "--json",
                                     env={"SSE_DASH_HEADERS": f"X-Admin-Key: {KEY}"})
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout)["connection_stats"]["active_connections"] == 0
    header_file = tmp_path / "admin.headers"
    header_file.write_text(f"# the admin key\nX-Admin-Key: {KEY}\n")
    by_file = await asyncio.to_thread(_sse_dash, "--url", url, "--once", "--header-file", str(header_file))
    assert by_file.returncode == 0, by_file.stderr
    by_arg = await asyncio.to_thread(_sse_dash, "--url", url, "--once", "--header", f"X-Admin-Key: {KEY}")
    assert by_arg.returncode == 0 and "visible to every user in ps" in by_arg.stderr
    bad = await asyncio.to_thread(_sse_dash, "--url", url, "--once", env={"SSE_DASH_HEADERS": f"X-Admin-Key {KEY}"})
    assert bad.returncode == 3 and "SSE_DASH_HEADERS line 1: expected 'Name: value'" in bad.stderr
    for run in (refused, wrong, by_env, by_file, by_arg, bad):
        assert KEY not in run.stdout + run.stderr


async def test_the_dashboard_lists_the_connections_with_the_header(service, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SSE_MONITORING_TOKEN", raising=False)
    monkeypatch.setenv("SSE_DASH_HEADERS", f"X-Admin-Key: {KEY}")
    source = make_source(build_parser().parse_args(["--url", f"{service.base_url}/ops/monitoring"]))
    recording = tmp_path / "incident.jsonl"
    recorder = Recorder(recording)
    clients = await open_clients("127.0.0.1", service.port, 4, path="/ticks")
    app = make_app(source, time.time, interval=0.5, recorder=recorder, watch_terminal=False, remember_theme=False)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            from textual.widgets import DataTable

            await pilot.press("2")
            table = app.query_one("#conn-table", DataTable)
            deadline = time.monotonic() + 20
            while table.row_count != 4:
                assert time.monotonic() < deadline, f"rows: {table.row_count}"
                await pilot.pause(0.05)
            assert app.auth_state == "ok"  # the header passed the app's check: actions enabled
            assert app.why_no_action(type(source)) is None
            assert KEY not in source.describe()
    finally:
        await close_clients(clients)
        await source.aclose()
        recorder.close()
    text = Path(recording).read_text()
    assert text.count("\n") >= 1 and KEY not in text  # recorded, without the secret
