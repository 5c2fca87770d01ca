"""sse-dash as a person runs it: in a real terminal (tmux), against a real service and a real
Redis. Covers --redis, --record then --replay, and exiting when the terminal goes away."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from core.config import load_config
from core.demo import DemoService
from core.manager import ConnectionManager
from core.store.redis import RedisStore
from tests.tools import require_binary

ROOT = Path(__file__).resolve().parents[2]
SSE_DASH = [sys.executable, "-m", "sse_tui"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def need_tmux() -> str:
    return require_binary("tmux", "tmux")


async def cli(*args: str) -> subprocess.CompletedProcess:
    proc = await asyncio.create_subprocess_exec(*SSE_DASH, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


async def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Tmux:
    def __init__(self, command: list[str], size=(100, 30)) -> None:
        self.tmux = need_tmux()
        self.name = f"ssedash-{uuid.uuid4().hex[:8]}"
        cmd = " ".join(f"'{c}'" for c in command)
        # without COLUMNS / LINES (a tmux server started from a non-terminal can hand 80x24 to its
        # panes' environment, which Textual believes over the pane's real size)
        subprocess.run([self.tmux, "new-session", "-d", "-s", self.name, "-x", str(size[0]), "-y", str(size[1]),
                        f"env -u COLUMNS -u LINES PYTHONPATH={ROOT} {cmd}"], check=True)
        self.pid = int(subprocess.run([self.tmux, "list-panes", "-t", self.name, "-F", "#{pane_pid}"],
                                      check=True, capture_output=True, text=True).stdout.split()[0])

    def screen(self) -> str:
        r = subprocess.run([self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return r.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        # a zombie is gone for our purposes
        try:
            state = Path(f"/proc/{self.pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return False
        return state != "Z"

    def kill_session(self) -> None:
        subprocess.run([self.tmux, "kill-session", "-t", self.name], capture_output=True)


async def test_redis_source_once_and_json(redis_url, namespace):
    worker = ConnectionManager(RedisStore(redis_url, namespace), load_config(PERIODIC_CLEANUP_ENABLED=False), worker_id="w-e2e")
    await worker.start()
    try:
        for _ in range(3):
            await worker.register(channel="x")
        res = await cli("--redis", redis_url, "--namespace", namespace, "--once", "--json")
        assert res.returncode == 0, res.stderr
        data = json.loads(res.stdout)
        assert data["connection_stats"]["active_connections"] == 3
        assert data["connection_stats"]["redis_connection_counters"] == 3
        assert [w["worker_id"] for w in data["workers"]] == ["w-e2e"]
        text = await cli("--redis", redis_url, "--namespace", namespace, "--once")
        assert "HEALTHY" in text.stdout and "w-e2e=3" in text.stdout
    finally:
        await worker.stop()
    # the worker is gone and periodic cleanup is enabled fleet-wide: nobody runs it -> unhealthy, exit 2
    worker = ConnectionManager(RedisStore(redis_url, namespace), load_config(PERIODIC_CLEANUP_ENABLED=True), worker_id="w2")
    await worker.start()
    await worker.stop_periodic_cleanup()
    await worker.flush_touches()
    try:
        res = await cli("--redis", redis_url, "--namespace", namespace, "--once")
        assert res.returncode == 2, res.stdout + res.stderr
        assert "Periodic cleanup is enabled but not running" in res.stdout
    finally:
        await worker.stop()


async def test_record_in_a_terminal_then_replay(tmp_path):
    svc = DemoService(port=0, clients=5, config=load_config(MONITORING_TOKEN="tok-rec", PERIODIC_CLEANUP_ENABLED=True))
    await svc.start()
    record = tmp_path / "incident.jsonl"
    term = Tmux([*SSE_DASH, "--url", svc.monitoring_url, "--token", "tok-rec", "--interval", "0.5", "--record", str(record)])
    try:
        await until(lambda: "HEALTHY" in term.screen() or "DEGRADED" in term.screen(), 30, "the first poll on screen")
        await until(lambda: record.exists() and len(record.read_text().splitlines()) >= 3, 30, "3 recorded polls")
        assert "tok-rec" not in term.screen()
        term.keys("q")
        await until(lambda: not term.alive(), 15, "sse-dash to quit on q")
    finally:
        term.kill_session()
        await svc.stop()
    lines = record.read_text().splitlines()
    assert "tok-rec" not in record.read_text()
    first = json.loads(lines[0])
    assert first  # a JSON object per poll
    res = await cli("--replay", str(record), "--once")
    assert res.returncode in (0, 1), res.stderr
    assert "active" in res.stdout


async def test_exits_when_the_terminal_goes_away():
    """SIGHUP (the SSH session dropped): no orphan process left burning a core."""
    term = Tmux([*SSE_DASH, "--interval", "0.5"])  # the embedded demo
    try:
        await until(lambda: "updated" in term.screen(), 60, "the dashboard on screen")
        pid = term.pid
        term.kill_session()  # the terminal goes away: SIGHUP
        await until(lambda: not term.alive(), 15, "sse-dash to exit after SIGHUP")
        # and no child of it (the embedded demo runs in-process) survives
        leftovers = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        assert leftovers == []
    finally:
        term.kill_session()


async def test_range_keys_and_tab_keys_in_a_terminal(redis_url, namespace):
    """Issue 21 as typed in a terminal: on History, > and < change the range at once (no Tab to
    focus the chart) and 2 is the Workers tab, never 24 h; after a search (Enter) or a
    cancelled one (Esc), the next 1 is the Overview tab and never part of the query."""
    from tests.tui.test_history_export import _write_history

    await _write_history(redis_url, namespace, 40)
    worker = ConnectionManager(RedisStore(redis_url, namespace), load_config(PERIODIC_CLEANUP_ENABLED=False),
                               worker_id="w-keys")
    await worker.start()
    for i in range(3):
        await worker.register(channel="x", client_address=f"10.9.0.{i}:5000{i}", user_agent="curl/8.5.0")
    await worker.flush_touches()
    term = Tmux([*SSE_DASH, "--redis", redis_url, "--namespace", namespace, "--interval", "0.5"], size=(120, 40))
    try:
        await until(lambda: "updated" in term.screen(), 60, "the dashboard on screen")
        term.keys("5")
        await until(lambda: "fleet history · 1h" in term.screen(), 30, "the History tab")
        await until(lambda: "< > Range" in term.screen(), 15, "the range keys in the footer")
        term.keys(">")
        await until(lambda: "fleet history · 6h" in term.screen() and "[6h]" in term.screen(), 15, "6 h")
        term.keys("<", "<")
        await until(lambda: "fleet history · live" in term.screen(), 15, "live")
        term.keys("2")
        await until(lambda: "Workers (1)" in term.screen(), 15, "the Workers tab")
        assert "fleet history" not in term.screen()
        term.keys("5")
        await until(lambda: "fleet history · live" in term.screen(), 15, "History again, still live")

        term.keys("2")
        await until(lambda: "Workers (1)" in term.screen(), 15, "the Workers tab")
        term.keys("/")  # then type as a person does: once the box is there
        await until(lambda: "Enter keeps, Esc clears" in term.screen(), 15, "the search box")
        term.keys("zzz")
        await until(lambda: "search: zzz" in term.screen(), 15, "the search")
        term.keys("Enter")
        await until(lambda: "search: zzz (Esc clears)" in term.screen(), 15, "the search kept")
        term.keys("1")
        await until(lambda: "Connection ages" in term.screen(), 15, "1 after a search: the Overview")
        term.keys("2")
        await until(lambda: "search: zzz" in term.screen() and "Workers (1)" in term.screen(), 15, "the search still zzz")
        assert "zzz1" not in term.screen()
        term.keys("Escape")
        await until(lambda: "search:" not in term.screen() and "1–3 of 3" in term.screen(), 15, "Esc cleared it")
        term.keys("/")
        await until(lambda: "Enter keeps, Esc clears" in term.screen(), 15, "the search box")
        term.keys("10.9")
        await until(lambda: "search: 10.9" in term.screen(), 15, "a search typed")
        term.keys("Escape")
        await until(lambda: "1–3 of 3" in term.screen() and "search:" not in term.screen(), 15, "cancelled")
        term.keys("3")
        await until(lambda: "oldest" in term.screen(), 15, "3 after a cancelled search: the Channels tab")
        assert "Traceback" not in term.screen() and term.alive()
    finally:
        term.kill_session()
        await worker.stop()


async def test_once_against_a_hung_redis_ends_within_its_deadline(own_redis, namespace):
    """A Redis that accepts and never answers (SIGSTOP): `sse-dash --redis --once --timeout 2`
    says so and exits 3 within the deadline plus the bounded close — never waits on the close."""
    from sse_tui.cli import ONCE_CLOSE_SECONDS

    worker = ConnectionManager(RedisStore(own_redis.url, namespace), load_config(PERIODIC_CLEANUP_ENABLED=False),
                               worker_id="w-hung")
    await worker.start()
    await worker.register(channel="x")
    await worker.flush_touches()
    await worker.stop()
    own_redis.pause()
    try:
        t0 = time.monotonic()
        res = await cli("--redis", own_redis.url, "--namespace", namespace, "--once", "--timeout", "2")
        took = time.monotonic() - t0
    finally:
        own_redis.resume()
    print(f"\n--once against a hung Redis: exit {res.returncode} after {took:.1f}s: {res.stderr.strip()[:200]}")
    assert res.returncode == 3, (res.stdout, res.stderr)
    assert "no complete answer within 2s" in res.stderr or "timed out" in res.stderr.lower(), res.stderr
    # start-up of a Python process on a busy machine, plus the deadline and the close bound
    assert took < 2 + ONCE_CLOSE_SECONDS + 15, took
