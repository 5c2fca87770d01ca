"""The Textual App: layout, key bindings, the polling worker and the cleanup worker.

Lifecycle (one poll in flight, rescheduled after it completes)::

    mount ─▶ poll loop: fetch ─▶ record success/failure ─▶ render ─▶ wait(delay | "r")
                          ▲                                               │
                          └───────────────────────────────────────────────┘
    delay = interval after a success, exponential backoff (capped) after failures

Widgets never fetch: the App pushes data into them ("attributes down"). Time comes
from the injected ``clock`` so snapshot tests are deterministic.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Button, Footer, TabbedContent, TabPane

from sse_tui import fmt
from sse_tui.recording import Recorder
from sse_tui.sources import Snapshot, Source, SourceError
from sse_tui.state import DashboardState, backoff_delay
from sse_tui.widgets.ages import AgesPanel
from sse_tui.widgets.alerts import AlertsPanel
from sse_tui.widgets.banner import StatusBanner
from sse_tui.widgets.cleanup import CleanupPanel
from sse_tui.widgets.config import ConfigPanel
from sse_tui.widgets.connections import ConnectionsPanel
from sse_tui.widgets.dialogs import CleanupDialog, HelpScreen
from sse_tui.widgets.header import HeaderBar
from sse_tui.widgets.tables import ConnectionsView, WorkersTable

Clock = Callable[[], float]
INTERVAL_STEPS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
TERMINAL_LOST_GRACE_SECONDS = 5.0


class DashboardApp(App[None]):
    CSS_PATH = "dashboard.tcss"
    TITLE = "sse-dash"

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("c", "cleanup", "Cleanup"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("space", "toggle_pause", "Pause", show=False),
        Binding("r", "refresh_now", "Refresh"),
        Binding("plus", "slower", "+Interval", key_display="+"),
        Binding("minus", "faster", "-Interval", key_display="-"),
        Binding("e", "export", "Export"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("slash", "filter", "Filter", show=False),
        Binding("o", "sort", "Sort", show=False),
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('connections')", "Connections", show=False),
        Binding("3", "tab('config')", "Config", show=False),
        Binding("comma", "step(-1)", "Back", key_display=","),
        Binding("full_stop", "step(1)", "Step", key_display="."),
    ]

    def __init__(
        self,
        source: Source,
        clock: Clock = time.time,
        *,
        interval: float = 1.0,
        readonly: bool = False,
        recorder: Recorder | None = None,
        export_dir: Path | None = None,
        watch_terminal: bool = True,
    ) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        self.interval = max(float(interval), 0.1)
        self.readonly = readonly
        self.recorder = recorder
        self.export_dir = export_dir
        self.watch_terminal = watch_terminal
        self.state = DashboardState()
        self.paused = False
        self.cleanup_running = False
        self.shown: Snapshot | None = None  # what the panels display (frozen while paused)
        self.shown_at: float | None = None
        self.is_replay = bool(getattr(source, "replay", False))
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield StatusBanner(id="banner")
        with TabbedContent(id="tabs", initial="overview"):
            with TabPane("Overview", id="overview"):
                with Grid(id="overview-grid"):
                    yield ConnectionsPanel(id="connections-panel", classes="panel")
                    yield AgesPanel(id="ages-panel", classes="panel")
                    yield CleanupPanel(readonly=self.readonly, id="cleanup-panel", classes="panel")
                    yield AlertsPanel(id="alerts-panel", classes="panel")
            with TabPane("Workers & connections", id="connections"):
                with Vertical(id="workers-box", classes="panel"):
                    yield WorkersTable(id="workers-table")
                yield ConnectionsView(id="connections-view", classes="panel")
            with TabPane("Configuration", id="config"):
                yield ConfigPanel(id="config-panel", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        # the dashboard screen; queries go through it so a dialog on top never hides a panel
        self._main = self.screen
        titles = {
            "#connections-panel": "Connections",
            "#ages-panel": "Connection ages",
            "#cleanup-panel": "Cleanup",
            "#alerts-panel": "Alerts & warnings",
            "#workers-box": "Workers",
            "#connections-view": "Oldest connections",
            "#config-panel": "Configuration",
        }
        for selector, title in titles.items():
            self._main.query_one(selector).border_title = title
        if self._wants_connections():  # the overview needs no connections page
            self.source.include_connections = False  # type: ignore[attr-defined]
        self._render_header()
        self.set_interval(1.0, self._tick)
        if self.watch_terminal and not self.is_headless:
            self._install_terminal_watch()
        self._poll_loop()

    # ------------------------------------------------------------------ polling

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def _poll_loop(self) -> None:
        while True:
            if not (self.paused and self.is_replay):
                await self.poll_once()
            delay = backoff_delay(self.interval, self.state.failures)
            self.state.next_poll_at = self.clock() + delay
            self._tick()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def poll_once(self) -> None:
        """One fetch; never raises (a failure becomes the banner)."""
        try:
            snapshot = await self.source.fetch()
        except SourceError as exc:
            self.state.record_failure(exc.reason, self.clock())
        except Exception as exc:  # noqa: BLE001 - a bug in a source must not kill the UI
            self.state.record_failure(f"unexpected {type(exc).__name__}: {exc}", self.clock())
        else:
            self._accept(snapshot)
        self.render_all()

    def _accept(self, snapshot: Snapshot) -> None:
        now = self.clock()
        self.state.record_success(snapshot, now)
        if self.recorder is not None:
            try:
                self.recorder.write(snapshot, now)
            except OSError as exc:
                self.notify(f"recording stopped: {exc}", severity="error")
                self.recorder = None

    # ------------------------------------------------------------------ rendering

    def _tick(self) -> None:
        self._render_header()
        self._render_banner()

    def _render_header_impl(self) -> None:
        now = self.clock()
        self._main.query_one(HeaderBar).show(
            source=self.source.describe(),
            snapshot=self.shown,
            data_age=None if self.shown_at is None else max(now - self.shown_at, 0.0),
            interval=self.interval,
            paused=self.paused,
            error=self.state.last_error is not None,
        )

    def _render_banner_impl(self) -> None:
        banner = self._main.query_one(StatusBanner)
        if self.state.last_error is None:
            banner.clear()
            return
        now = self.clock()
        retry_in = None if self.state.next_poll_at is None else self.state.next_poll_at - now
        banner.show_error(
            self.state.last_error,
            data_age=self.state.data_age(now),
            retry_in=retry_in,
            failures=self.state.failures,
        )

    def _render_all_impl(self, force: bool = False) -> None:
        self._render_header()
        self._render_banner()
        snap = self.state.snapshot
        if snap is None or (self.paused and not force):
            return
        self.shown, self.shown_at = snap, self.state.last_ok_at
        self._render_header()
        self._render_active_tab()

    def _render_active_tab(self) -> None:
        """Paint only what can be seen: hidden tabs are painted when they are activated."""
        snap = self.shown
        if snap is None:
            return
        now = self.clock()
        stats = snap.stats
        tab = self._main.query_one(TabbedContent).active
        if tab == "overview":
            self._main.query_one(ConnectionsPanel).show(snap, self.state.history)
            self._main.query_one(AgesPanel).show(stats.cleanup_stats, stats.age_histogram,
                                                 stats.configuration.stale_threshold_seconds)
            self._main.query_one(CleanupPanel).show(snap)
            self._main.query_one(AlertsPanel).show(self.state.events, now)
            alerts = stats.health_indicators
            n_alerts, n_warn = len(alerts.alerts), len(alerts.warnings)
            title = "Alerts & warnings"
            if n_alerts or n_warn:
                title += f" ({n_alerts} alerts, {n_warn} warnings)"
            self._main.query_one("#alerts-panel").border_title = title
        elif tab == "connections":
            self._main.query_one(WorkersTable).show(stats.workers)
            if snap.connections is not None or not self._wants_connections():
                conns_now = snap.recorded_at if snap.recorded_at is not None else now
                self._main.query_one(ConnectionsView).show(snap.connections, snap.connections_total,
                                                           snap.connections_state, conns_now)
        elif tab == "config":
            self._main.query_one(ConfigPanel).show(stats.configuration, stats.service_name)
            if stats.configuration.validation_warnings:
                self._main.query_one("#config-panel").border_title = (
                    f"Configuration ({len(stats.configuration.validation_warnings)} warnings)")

    def _wants_connections(self) -> bool:
        return hasattr(self.source, "include_connections")

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        tab = event.pane.id if event.pane is not None else None
        if self._wants_connections():
            wanted = tab == "connections"
            if wanted and not self.source.include_connections:  # type: ignore[attr-defined]
                self.source.include_connections = True  # type: ignore[attr-defined]
                self._wake.set()  # fetch the page now rather than at the next interval
            elif not wanted:
                self.source.include_connections = False  # type: ignore[attr-defined]
        try:
            self._render_active_tab()
        except NoMatches:
            pass

    # The renderers run from timers and the poll worker; during shutdown the widgets may
    # already be gone, which must not turn into a traceback.

    def _render_header(self) -> None:
        try:
            self._render_header_impl()
        except NoMatches:
            pass

    def _render_banner(self) -> None:
        try:
            self._render_banner_impl()
        except NoMatches:
            pass

    def render_all(self, force: bool = False) -> None:
        try:
            self._render_all_impl(force)
        except NoMatches:
            pass

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cleanup" and self.readonly:
            return False
        if action == "step" and not self.is_replay:
            return False
        return True

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.render_all()
            if self.is_replay:
                self._wake.set()
        self._render_header()

    def action_refresh_now(self) -> None:
        self._wake.set()

    def _set_interval(self, value: float) -> None:
        self.interval = value
        self._render_header()
        self._wake.set()

    def action_slower(self) -> None:
        bigger = [s for s in INTERVAL_STEPS if s > self.interval]
        self._set_interval(bigger[0] if bigger else self.interval)

    def action_faster(self) -> None:
        smaller = [s for s in INTERVAL_STEPS if s < self.interval]
        self._set_interval(smaller[-1] if smaller else self.interval)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_tab(self, tab: str) -> None:
        self._main.query_one(TabbedContent).active = tab

    def action_filter(self) -> None:
        self.action_tab("connections")
        self._main.query_one(ConnectionsView).open_filter()

    def action_sort(self) -> None:
        sort_by = self._main.query_one(ConnectionsView).cycle_sort()
        self.notify(f"connections sorted by {sort_by}", timeout=2)

    def action_step(self, delta: int) -> None:
        step = getattr(self.source, "step", None)
        if step is None:
            return
        self.paused = True
        self._accept(step(delta))
        self.render_all(force=True)

    def action_export(self) -> None:
        snap = self.state.snapshot
        if snap is None:
            self.notify("nothing to export yet", severity="warning")
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.clock()))
        folder = self.export_dir or Path.cwd()
        path = folder / f"sse-dash-{stamp}.json"
        n = 1
        while path.exists():
            n += 1
            path = folder / f"sse-dash-{stamp}-{n}.json"
        try:
            path.write_text(json.dumps(snap.stats.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            self.notify(f"export failed: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"exported snapshot to {path.name}")

    def action_cleanup(self) -> None:
        if self.readonly:
            return
        if self.cleanup_running:
            self.notify("a cleanup is already running", severity="warning")
            return
        if isinstance(self.screen, CleanupDialog):
            return
        snap = self.state.snapshot
        batch = snap.stats.configuration.cleanup_batch_size if snap else 10
        now = self.clock()
        warning = None
        if self.state.is_stale(now, self.interval):
            age = self.state.data_age(now)
            if age is None:
                warning = "No data has been received from the source yet."
            else:
                warning = f"The data on screen is {fmt.age(age)} old"
                if self.state.last_error:
                    warning += f" (last poll failed: {self.state.last_error})"
                warning += "; the service may have changed."
        self.push_screen(CleanupDialog(self.source.describe(), max(batch, 1), warning), self._cleanup_confirmed)

    def _cleanup_confirmed(self, batch: int | None) -> None:
        if batch is not None:
            self.run_cleanup(batch)

    @work(exclusive=True, group="cleanup", exit_on_error=False)
    async def run_cleanup(self, batch_size: int) -> None:
        self.cleanup_running = True
        try:
            result = await self.source.cleanup(batch_size)
        except SourceError as exc:
            self.notify(f"Cleanup failed: {exc.reason}", title="Cleanup", severity="error", timeout=10)
            return
        except Exception as exc:  # noqa: BLE001
            self.notify(f"Cleanup failed: {type(exc).__name__}: {exc}", title="Cleanup", severity="error", timeout=10)
            return
        finally:
            self.cleanup_running = False
        message = f"cleaned {result.cleaned}, failed {result.failed} in {result.duration_ms:.0f} ms"
        if result.error:
            self.notify(f"{message}: {result.error}", title="Cleanup", severity="error", timeout=10)
        else:
            self.notify(message, title="Cleanup", severity="warning" if result.failed else "information")
        self._wake.set()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cleanup-button":
            self.action_cleanup()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not self.readonly:
            yield SystemCommand("Cleanup now", "Run a cleanup (asks for confirmation)", self.action_cleanup)
        yield SystemCommand("Pause / resume", "Pause or resume rendering", self.action_toggle_pause)
        yield SystemCommand("Refresh now", "Poll the source immediately", self.action_refresh_now)
        yield SystemCommand("Export snapshot", "Write the current snapshot as JSON", self.action_export)

    # ------------------------------------------------------------------ terminal loss

    def _install_terminal_watch(self) -> None:
        """Exit when the terminal goes away (SIGHUP, lost TTY): no orphan burning a core."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGHUP, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._terminal_lost)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        self.set_interval(2.0, self._check_tty)

    def _check_tty(self) -> None:
        try:
            os.get_terminal_size(sys.__stdout__.fileno())
        except (OSError, ValueError, AttributeError):
            self._terminal_lost()

    def _terminal_lost(self) -> None:
        if getattr(self, "_lost", False):
            return
        self._lost = True
        # With the terminal gone, Textual's shutdown can block for ever writing to it (seen:
        # its writer queue deadlocked after SIGHUP). Nothing is left to save at that point
        # (recordings are flushed per line, sources hold no state), so a watchdog ends the
        # process if the clean exit below has not within a few seconds.
        watchdog = threading.Timer(TERMINAL_LOST_GRACE_SECONDS, os._exit, args=(0,))
        watchdog.daemon = True
        watchdog.start()
        self.exit(return_code=0)


def make_app(source: Source, clock: Clock = time.time, **kwargs) -> DashboardApp:
    """Build the dashboard for ``source``; ``clock`` returns epoch seconds."""
    return DashboardApp(source, clock, **kwargs)
