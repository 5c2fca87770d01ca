"""States, not guesses (issue 11): source down and store down show no green and no zeros,
say which key retries, and a recovered source is polled at once (not after the backoff)."""

from __future__ import annotations

import colorsys
import re

from textual.widgets import Static
from tui_helpers import FixedClock, wait_until

from sse_tui.samples import ScriptedSource, sample_snapshot
from sse_tui.sources import SourceError
from tests.tui.test_app_keys import build, first_poll, text_of

FILL = re.compile(r'fill(?:="|:\s*)(#[0-9a-fA-F]{6})')
WINDOW_CHROME = {"#28c840", "#febc2e", "#ff5f57"}  # rich's SVG window buttons, not the app


def greens(svg: str) -> set[str]:
    """Fill colours of the screenshot that a person reads as green."""
    found = set()
    for colour in set(FILL.findall(svg)) - WINDOW_CHROME:
        r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        if 75 / 360 <= h <= 165 / 360 and s > 0.3 and v > 0.3:
            found.add(colour)
    return found


def zeros(text: str) -> list[str]:
    return re.findall(r"(?<![\d.:])0(?![\d.:%smh])", text)


async def _screens(app, pilot) -> list[str]:
    out = []
    for tab in ("1", "2", "4"):
        await pilot.press(tab)
        await pilot.pause()
        out.append(app.export_screenshot())
    await pilot.press("1")
    return out


async def test_healthy_screen_is_green_so_the_check_can_fail(clock: FixedClock) -> None:
    app, _ = build(ScriptedSource([sample_snapshot("healthy")]), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        assert greens(app.export_screenshot())


async def test_source_down_shows_no_green_and_says_which_key_retries(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot("healthy"), SourceError("cannot connect to http://svc (refused)")])
    app, _ = build(src, clock, interval=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        clock.advance(4)
        await pilot.press("r")
        await wait_until(pilot, lambda: app.state.failures >= 1, what="failure")
        header, banner = text_of(app, "#header"), text_of(app, "#banner")
        assert "SOURCE DOWN" in header and "✔ HEALTHY" in header and "last:" in header
        assert "press r to retry now" in banner
        alerts = text_of(app, "#alerts-body")
        assert "no alerts" not in alerts and "alerts unknown now (SOURCE DOWN)" in alerts
        assert "task running" not in text_of(app, "#conn-body") and "unknown" in text_of(app, "#conn-body")
        assert "SOURCE DOWN · data 4s old" in str(app.query_one("#connections-panel").border_subtitle)
        for svg in await _screens(app, pilot):
            assert not greens(svg)


async def test_store_down_shows_question_marks_not_zeros_and_no_green(clock: FixedClock) -> None:
    src = ScriptedSource([sample_snapshot("store_down")])
    app, _ = build(src, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        assert "STORE DOWN" in text_of(app, "#header") and "STORE DOWN" in text_of(app, "#banner")
        for panel in ("#conn-body", "#cleanup-body", "#age-counts"):
            text = text_of(app, panel)
            assert "?" in text and not zeros(text), (panel, text)
        assert "periodic cleanup task running" not in text_of(app, "#conn-body")
        await pilot.press("2")
        await pilot.pause()
        from textual.widgets import DataTable

        workers = app.query_one("#workers-table", DataTable)
        assert "unknown" in " ".join(c.plain for c in workers.get_row_at(0))
        for svg in await _screens(app, pilot):
            assert not greens(svg)


async def test_recovery_is_polled_at_once_not_after_the_backoff(clock: FixedClock, fake_service) -> None:
    """Backoff after failures, but a probe each interval sees the source back and polls now."""
    from sse_tui.sources import HttpSource

    source = HttpSource(fake_service.monitoring_url, token="s3cret")
    app, _ = build(source, clock, interval=0.5)
    async with app.run_test() as pilot:
        await first_poll(pilot, app)
        fake_service.status = 503
        for _ in range(5):  # five failures: the backoff is now 30 s
            n = app.state.failures + 1
            app.action_refresh_now()
            await wait_until(pilot, lambda n=n: app.state.failures >= n, what=f"failure {n}")
        assert app.state.failures >= 5
        fake_service.status = 200
        await wait_until(pilot, lambda: app.state.failures == 0, timeout=8, what="recovery well before the 30 s backoff")
    await source.aclose()


async def test_cleanup_dialog_says_how_many_are_stale(clock: FixedClock) -> None:
    from sse_tui.widgets.dialogs import CleanupDialog

    app, _ = build(ScriptedSource([sample_snapshot("degraded")]), clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await first_poll(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupDialog), what="dialog")
        assert "Stale connections now: 64" in str(app.screen.query_one("#dialog-count", Static).render())
