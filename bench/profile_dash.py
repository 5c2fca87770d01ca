"""Where one ``sse-dash`` poll's CPU goes: ``python -m bench.profile_dash [--seconds 40]``.

A diagnostic beside ``bench_dash`` (which gives the verdict): the same 1,000-stream
``sse-demo`` and the same 120x40 tmux terminal, but ``sse-dash --interval 1`` runs under a
wrapper that adds perf-counter accumulators around Textual's frame
(``Compositor.render_update``, each widget's ``StylesCache.render_widget``, ``App._display``)
and the dashboard's own steps (``render_all``, the header, ``parse_stats``). After a 12 s
warm-up the accumulators run for ``--seconds``; the dashboard is then quit with ``q`` and
prints them per poll. Then, in this process, the CPU of one GET of ``/monitoring`` through
httpx (what ``HttpSource`` uses) against the same GET on a raw asyncio socket, and of
``parse_stats``: the floor a poll pays before anything is drawn.

The wrapper hooks Textual 8.2 internals by name (``textual._compositor``,
``textual._styles_cache``): it measures, it never runs in the product.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .bench_dash import TOKEN, Demo, Tmux, alive

WARMUP = 12.0

WRAPPER = r'''
import atexit, collections, json, os, sys, time
T0 = time.monotonic()
WARMUP = float(os.environ["PROFILE_DASH_WARMUP"])
acc = collections.defaultdict(lambda: [0, 0.0])
cpu_at_warmup = [None]

def on():
    if cpu_at_warmup[0] is None and time.monotonic() - T0 > WARMUP:
        cpu_at_warmup[0] = (time.process_time(), time.monotonic())
    return cpu_at_warmup[0] is not None

def wrap(owner, name, label, key=None):
    orig = getattr(owner, name)
    def w(*a, **k):
        t = time.perf_counter()
        try:
            return orig(*a, **k)
        finally:
            if on():
                cell = acc[label if key is None else key(*a)]
                cell[0] += 1
                cell[1] += time.perf_counter() - t
    setattr(owner, name, w)

from textual._compositor import Compositor
from textual._styles_cache import StylesCache
from textual.app import App
from sse_tui import sources
from sse_tui.app import DashboardApp
wrap(Compositor, "render_update", "frame: Compositor.render_update")
wrap(StylesCache, "render_widget", None, key=lambda self, widget, crop: "  widget " + type(widget).__name__
     + ("#" + widget.id if widget.id else ""))
wrap(App, "_display", "frame: App._display (to the terminal)")
wrap(DashboardApp, "render_all", "dashboard: render_all (panels' text)")
wrap(DashboardApp, "_render_header", "dashboard: header")
wrap(sources, "parse_stats", "poll: parse_stats")

def dump():
    start = cpu_at_warmup[0]
    if start is None:
        return
    out = {"cpu": time.process_time() - start[0], "wall": time.monotonic() - start[1],
           "acc": {k: v for k, v in acc.items()}}
    with open(os.environ["PROFILE_DASH_OUT"], "w") as f:
        json.dump(out, f)
atexit.register(dump)
from sse_tui.cli import main
sys.argv[0] = "sse-dash"
sys.exit(main())
'''


async def get_costs(url: str, token: str, n: int = 100) -> dict[str, float]:
    """CPU ms per call: httpx GET, raw-socket GET, parse_stats (same process, same server)."""
    from sse_tui.sources import parse_stats

    parts = urlsplit(url)
    request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n"
               f"User-Agent: sse-dash\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)

    async def raw_get() -> bytes:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return await reader.readexactly(length)

    async with httpx.AsyncClient(headers={"Accept": "application/json", "Authorization": f"Bearer {token}"}) as client:
        async def httpx_get() -> bytes:
            return (await client.get(url)).content

        out: dict[str, float] = {}
        for name, fn in (("GET /monitoring, httpx (as HttpSource)", httpx_get),
                         ("GET /monitoring, raw asyncio socket", raw_get)):
            for _ in range(5):
                await fn()
            c0 = time.process_time()
            for _ in range(n):
                body = await fn()
            out[name] = (time.process_time() - c0) / n * 1000
        c0 = time.process_time()
        for _ in range(n):
            parse_stats(body)
        out[f"parse_stats ({len(body):,} B)"] = (time.process_time() - c0) / n * 1000
    writer.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=40.0, help="measured window after the 12 s warm-up")
    p.add_argument("--clients", type=int, default=1000)
    args = p.parse_args()
    demo = Demo(args.clients, TOKEN)
    tmux = Tmux()
    wrapper = tempfile.NamedTemporaryFile("w", prefix="profile_dash_", suffix=".py", delete=False)
    wrapper.write(WRAPPER)
    wrapper.close()
    out_path = Path(tempfile.mkdtemp(prefix="profile_dash_")) / "figures.json"
    try:
        demo.start()
        print(f"sse-demo: {args.clients} clients, {demo.url}", flush=True)
        env = ["env", f"PROFILE_DASH_OUT={out_path}", f"PROFILE_DASH_WARMUP={WARMUP}"]
        pid = tmux.start("profile", [*env, sys.executable, wrapper.name, "--url", demo.url, "--token", demo.token,
                                     "--interval", "1"], marker=wrapper.name)
        time.sleep(WARMUP + args.seconds)
        tmux.run("send-keys", "-t", f"{tmux.socket}-profile", "q")
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not out_path.exists():
            raise SystemExit(f"no figures written; the pane shows:\n{tmux.capture('profile')}")
        figures = json.loads(out_path.read_text())
        polls = max(figures["acc"].get("dashboard: render_all (panels' text)", [1])[0], 1)
        print(f"\nsse-dash under the wrapper, {figures['wall']:.1f} s after warm-up: process CPU "
              f"{figures['cpu'] * 1000:.0f} ms = {100 * figures['cpu'] / figures['wall']:.2f} % of one core, "
              f"{polls} polls = {figures['cpu'] / polls * 1000:.1f} ms per poll (threads, timers and idle included)")
        print(f"{'step':62s} {'calls':>6s} {'ms per poll':>12s} {'ms per call':>12s}")
        rows = sorted(figures["acc"].items(), key=lambda kv: (kv[0].startswith("  "), -kv[1][1]))
        for name, (calls, seconds) in rows:
            print(f"{name:62s} {calls:6d} {seconds / polls * 1000:12.3f} {seconds / max(calls, 1) * 1000:12.3f}")
        print("\nthe poll's floor, CPU per call in this process:")
        for name, ms in asyncio.run(get_costs(demo.url, demo.token)).items():
            print(f"  {name:45s} {ms:7.3f} ms")
    finally:
        tmux.close()
        demo.stop()
        os.unlink(wrapper.name)
        out_path.unlink(missing_ok=True)
        out_path.parent.rmdir()


if __name__ == "__main__":
    main()
