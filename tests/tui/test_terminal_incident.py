"""Issue 11 in a real terminal (tmux), under TERM=screen and NO_COLOR, at 80x24: markup from
the registry shown literally, a worker killed with SIGKILL shown DEAD, the source going
down shown as SOURCE DOWN with no "no alerts" and no "task running" (words, not colours)."""

from __future__ import annotations

import asyncio
import signal
import time

from core.config import load_config
from core.demo import DemoService
from core.manager import ConnectionManager
from core.store.redis import RedisStore
from tests.service.conftest import SSEClient
from tests.tui.test_terminal_e2e import SSE_DASH, Tmux, until

PLAIN_TERM = ["env", "TERM=screen", "NO_COLOR=1"]


async def test_markup_and_a_killed_worker_in_a_16_colour_terminal(redis_url, namespace, workers) -> None:
    observer = ConnectionManager(RedisStore(redis_url, namespace), load_config(PERIODIC_CLEANUP_ENABLED=False),
                                 worker_id="w-markup")
    await observer.start()
    proc = workers(redis_url, namespace)
    await proc.wait_ready()
    client = await SSEClient("127.0.0.1", proc.port).connect()
    term = None
    try:
        await asyncio.wait_for(client.headers_received.wait(), 10)
        await observer.register(channel="[bold]x[/italic]", client_address="z[/x]",
                                user_agent="[link=http://evil.example]x[/link]")
        await observer.flush_touches()
        term = Tmux([*PLAIN_TERM, *SSE_DASH, "--redis", redis_url, "--namespace", namespace, "--interval", "0.5"],
                    size=(80, 24))
        await until(lambda: "updated" in term.screen(), 60, "the dashboard on screen")
        # a capture can land mid-redraw: wait for the footer rather than read it once
        await until(lambda: any("? Help" in line for line in term.screen().splitlines()[-2:]), 15, "? in the footer")
        # a key pressed while the app is busy repainting under load can be lost: press it
        # again until the Connections tab shows (pressing "2" on that tab changes nothing)
        pressed_at = [0.0]

        def connections_tab() -> bool:
            if "z[/x]" in term.screen():
                return True
            if time.monotonic() - pressed_at[0] > 5:
                term.keys("2")
                pressed_at[0] = time.monotonic()
            return False

        await until(connections_tab, 60, "the markup client shown literally")
        assert "[bold]x[/italic]" in term.screen()
        await until(lambda: "ALIVE" in term.screen(), 30, "the live worker")
        proc.proc.send_signal(signal.SIGKILL)
        await until(lambda: "DEAD" in term.screen(), 45, "the killed worker shown DEAD")
        screen = term.screen()
        assert "Traceback" not in screen and "MarkupError" not in screen and term.alive()
    finally:
        if term is not None:
            term.kill_session()
        await client.close()
        await observer.stop()


async def test_source_down_in_a_plain_terminal_says_so_in_words() -> None:
    svc = DemoService(port=0, clients=3, config=load_config(MONITORING_TOKEN="tok-down"))
    await svc.start()
    term = Tmux([*PLAIN_TERM, "SSE_MONITORING_TOKEN=tok-down", *SSE_DASH, "--url", svc.monitoring_url,
                 "--interval", "0.5"], size=(80, 24))
    stopped = False
    try:
        await until(lambda: "HEALTHY" in term.screen() or "DEGRADED" in term.screen(), 60, "the first poll")
        await svc.stop()
        stopped = True
        await until(lambda: "SOURCE DOWN" in term.screen(), 30, "SOURCE DOWN")
        screen = term.screen()
        assert "press r to retry now" in screen.replace("\n", " ") or "retry" in screen
        assert "no alerts" not in screen and "task running" not in screen
        assert "last:" in screen  # the last health is labelled as the last one, not as now
        assert "tok-down" not in screen
    finally:
        term.kill_session()
        if not stopped:
            await svc.stop()


async def test_store_down_in_a_plain_terminal_shows_question_marks_not_zeros(tmp_path) -> None:
    """The service answers but its Redis is stopped: STORE DOWN and ? for every number."""
    import re

    from tests.redis_server import RedisServer

    redis = RedisServer().start()
    svc = DemoService(port=0, clients=3, config=load_config(MONITORING_TOKEN="tok-store", REDIS_URL=redis.url,
                                                            REDIS_TIMEOUT_SECONDS=0.5))
    await svc.start()
    term = Tmux([*PLAIN_TERM, "SSE_MONITORING_TOKEN=tok-store", *SSE_DASH, "--url", svc.monitoring_url,
                 "--interval", "0.5"], size=(100, 30))
    try:
        await until(lambda: "HEALTHY" in term.screen() or "DEGRADED" in term.screen(), 60, "the first poll")
        redis.stop()
        await until(lambda: "STORE DOWN" in term.screen(), 30, "STORE DOWN")
        await until(lambda: "? unknown" in term.screen(), 15, "unknown counts")
        screen = term.screen()
        counts = [line for line in screen.splitlines() if re.search(r"Active|Redis|Mismatch|runs / cleaned", line)]
        shown_now = [re.sub(r"was [^│]*", "", line.split("│")[1]) for line in counts]  # the left panel, minus history
        assert all("?" in part for part in shown_now), shown_now
        assert not any(re.search(r"(?<![\d.:–-])0(?![\d.:%smh])", part) for part in shown_now), shown_now
        assert "no alerts" not in screen and "task running" not in screen and "Traceback" not in screen
    finally:
        term.kill_session()
        await svc.stop()
        redis.stop()
