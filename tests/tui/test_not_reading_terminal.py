"""The early frozen signal on screen (issue 27): ``sse-dash --redis`` in a real terminal
(tmux, 120x30) shows a client that stopped reading as ``✖ NOT READING`` in the
connections tab, read from what the worker published to the store (real sockets, a real
uvicorn in this process, a real redis-server), before it is anywhere near stale."""

from __future__ import annotations

import pytest

from core.config import load_config
from tests.service.conftest import serve
from tests.service.sse_compat import fresh_sse_starlette_state  # noqa: F401 - autouse fixture
from tests.service.test_frozen_clients import _socket_table_works, frozen_client, steady_route
from tests.tui.test_terminal_e2e import SSE_DASH, Tmux, until

pytestmark = pytest.mark.skipif(not _socket_table_works(), reason="needs Linux sock_diag (the socket table)")


async def test_a_frozen_client_reads_not_reading_in_the_connections_tab(redis_url, namespace) -> None:
    cfg = load_config(REDIS_URL=redis_url, REDIS_NAMESPACE=namespace, LOG_LEVEL="WARNING",
                      MONITORING_CONNECTIONS_PUBLIC=True, PERIODIC_CLEANUP_ENABLED=False)
    holder: dict = {}
    async with serve(cfg, [steady_route(lambda: holder["m"])]) as s:
        holder["m"] = s.manager
        frozen = await frozen_client(s.host, s.port, "/steady")
        term = None
        try:
            term = Tmux(["env", "TERM=screen", "NO_COLOR=1", *SSE_DASH, "--redis", redis_url, "--namespace", namespace,
                         "--interval", "0.5"], size=(120, 30))
            await until(lambda: "updated" in term.screen(), 60, "the dashboard on screen")
            term.keys("2")
            await until(lambda: "queue" in term.screen(), 30, "the connections tab with its queue column")
            screen = await until(lambda: "NOT READING" in (x := term.screen()) and x, 30,
                                 "the frozen client shown NOT READING")
            row = next(line for line in screen.splitlines() if "NOT READING" in line)
            assert f":{frozen.getsockname()[1]}" in row and "STALE" not in row, row  # long before it is stale
            assert "✖" in row  # a symbol and a word: readable with NO_COLOR
            assert term.alive() and "Traceback" not in screen
        finally:
            if term is not None:
                term.kill_session()
            frozen.close()
