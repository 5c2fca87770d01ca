#!/usr/bin/env python
"""Take SVG (and PNG, when rsvg-convert is installed) pictures of sse-dash into screenshots/.

    .venv/bin/python scripts/screenshots.py            # fixed sample data (deterministic)
    .venv/bin/python scripts/screenshots.py --demo     # the embedded demo service (live)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sse_tui.app import make_app  # noqa: E402
from sse_tui.samples import T0, ScriptedSource, sample_connections, sample_snapshot  # noqa: E402
from sse_tui.sources import DemoSource, SourceError  # noqa: E402

OUT = ROOT / "screenshots"
SIZES = ((120, 40), (80, 24))


def png_friendly(svg: str) -> str:
    # rsvg-convert drops leading non-breaking spaces of a text run; plain spaces kept verbatim render right
    return svg.replace("&#160;", " ").replace("<svg ", '<svg xml:space="preserve" ', 1)


async def shoot(name: str, source, clock, size, keys=(), polls: int = 8, fail_after: bool = False) -> Path:
    app = make_app(source, clock, interval=5.0, watch_terminal=False, remember_theme=False)
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + 30
        while app.state.polls < polls and time.monotonic() < deadline:
            n = app.state.polls + 1
            app.action_refresh_now()
            while app.state.polls < n and time.monotonic() < deadline:
                await pilot.pause(0.02)
        if fail_after:
            app.action_refresh_now()
            while app.state.failures < 1 and time.monotonic() < deadline:
                await pilot.pause(0.02)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.1)
        await pilot.pause(0.3)
        svg = app.export_screenshot(title=f"sse-dash — {name}")
    path = OUT / f"{name}-{size[0]}x{size[1]}.svg"
    path.write_text(svg, encoding="utf-8")
    if shutil.which("rsvg-convert"):
        tmp = path.with_suffix(".tmp.svg")
        tmp.write_text(png_friendly(svg), encoding="utf-8")
        subprocess.run(["rsvg-convert", str(tmp), "-o", str(path.with_suffix(".png"))], check=True)
        tmp.unlink()
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", action="store_true", help="use the embedded demo service")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    active = (118, 124, 131, 129, 137, 142, 146, 150)
    if args.demo:
        for size in SIZES:
            src = DemoSource(clients=40)
            try:
                print(await shoot("demo", src, time.time, size, polls=5))
                print(await shoot("demo-connections", src, time.time, size, keys=("2",), polls=1))
            finally:
                await src.aclose()
        readme_picture = OUT / "demo-120x40.png"
        if readme_picture.exists():  # the README's picture is the live demo at 120x40: never a stale copy
            shutil.copyfile(readme_picture, OUT / "dashboard.png")
        return
    clock = lambda: T0 + 2  # noqa: E731
    for size in SIZES:
        for health in ("healthy", "degraded", "unhealthy"):
            steps = [sample_snapshot(health, active=a) for a in active]
            print(await shoot(health, ScriptedSource(steps), clock, size))
        steps = [sample_snapshot("degraded", active=a) for a in active] + [SourceError("cannot connect to http://sse.example:8000 (connection refused)")]
        print(await shoot("source-down", ScriptedSource(steps), clock, size, fail_after=True))
        print(await shoot("cleanup-dialog", ScriptedSource([sample_snapshot("degraded")]), clock, size, keys=("c",), polls=1))
        print(await shoot("help", ScriptedSource([sample_snapshot("healthy")]), clock, size, keys=("question_mark",), polls=1))
        print(await shoot("connections", ScriptedSource([sample_snapshot("unhealthy")]), clock, size, keys=("2",), polls=1))
        print(await shoot("store-down", ScriptedSource([*(sample_snapshot("healthy", active=a) for a in active),
                                                        sample_snapshot("store_down")]), clock, size, polls=9))
        print(await shoot("dead-worker", ScriptedSource([sample_snapshot("dead_worker")]), clock, size, keys=("2",), polls=1))
        late = sample_connections(late_worker=True)
        print(await shoot("late-worker", ScriptedSource([sample_snapshot("late_worker")], connections=late), clock, size,
                          keys=("2",), polls=1))
        print(await shoot("rebuilding", ScriptedSource([*(sample_snapshot("healthy", active=a) for a in active),
                                                        sample_snapshot("rebuilding")]), clock, size, polls=9))
        print(await shoot("old-counts-detail", ScriptedSource([sample_snapshot("late_worker")], connections=late), clock,
                          size, keys=("2", "tab", "tab", "down", "enter"), polls=1))
        print(await shoot("connection-detail", ScriptedSource([sample_snapshot("healthy")]), clock, size,
                          keys=("2", "tab", "tab", "down", "enter"), polls=1))
        many = ScriptedSource([sample_snapshot("healthy")], connections=sample_connections(130))
        print(await shoot("paging", many, clock, size, keys=("2", "tab", "tab", "right_square_bracket"), polls=1))


if __name__ == "__main__":
    asyncio.run(main())
