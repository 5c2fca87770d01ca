"""Every example of docs/frameworks.md, as written, in a fresh interpreter (tests/docs runs
them too; here each one also streams): served on a real uvicorn, a client opens
``/events``, the stream is counted exactly, the API's disconnect ends it with the
terminating chunk, and the count goes back to zero."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.docs.test_docs_run import ROOT, python_blocks

BLOCKS = [b for b in python_blocks(ROOT / "docs" / "frameworks.md") if "SSETrackingMiddleware(" in b.source]

RUNNER = r'''
import asyncio, sys
path = sys.argv[1]
ns = {"__name__": "__main__", "__file__": path}
exec(compile(open(path).read(), path, "exec"), ns)

async def main():
    import httpx
    from core.demo import serve_app, stop_server
    from tests.service.conftest import SSEClient, wait_for
    server, task, port = await serve_app(ns["app"], "127.0.0.1", 0)
    auth = {"Authorization": "Bearer docs-token"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            async def active():
                return (await http.get("/monitoring")).json()["connection_stats"]["active_connections"]
            c = await SSEClient("127.0.0.1", port, "/events").connect()
            await wait_for(lambda: asyncio.sleep(0, c.events >= 1), 10, "an event")
            await wait_for(lambda: _eq(active(), 1), 10, "one stream counted")
            [conn] = (await http.get("/monitoring/connections", headers=auth)).json()["connections"]
            assert conn["channel"] == "/events" and conn["user_agent"] == "test-client", conn
            r = await http.delete(f"/monitoring/connections/{conn['connection_id']}", headers=auth)
            assert r.status_code == 200, r.text
            await asyncio.wait_for(c.closed_by_server.wait(), 5)
            assert c.clean_end
            await wait_for(lambda: _eq(active(), 0), 10, "no stream left")
            await c.close()
    finally:
        await stop_server(server, task)
    print("example streamed ok")

async def _eq(coro, n):
    return (await coro) == n

asyncio.run(main())
'''


def test_the_page_has_an_example_per_framework():
    sources = [b.source for b in BLOCKS]
    assert any("django" in s for s in sources) and any("litestar" in s for s in sources)
    assert any("StreamingResponse" in s for s in sources)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_example_streams_and_is_tracked(block, tmp_path):
    src = tmp_path / "example.py"
    src.write_text(block.source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSE_", "PROMETHEUS_", "PYTHON"))}
    env.update(PYTHONPATH=str(ROOT), SSE_MONITORING_TOKEN="docs-token", SSE_TOUCH_FLUSH_INTERVAL_SECONDS="0.2")
    res = subprocess.run([sys.executable, "-c", RUNNER, str(src)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=100)
    assert res.returncode == 0 and "example streamed ok" in res.stdout, (
        f"{block.id}:\n--- stdout\n{res.stdout[-2000:]}\n--- stderr\n{res.stderr[-4000:]}")
