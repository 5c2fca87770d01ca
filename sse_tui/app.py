"""The Textual App: layout, key bindings, the polling worker and the action workers.

Lifecycle (one poll in flight, rescheduled after it completes)::

    mount ─▶ poll loop: fetch (+ the visible page) ─▶ record success/failure ─▶ views ─▶ wait
                          ▲                                                             │
                          └─────────────────────────────────────────────────────────────┘
    wait = interval after a success; after failures an exponential backoff (capped) during
    which a cheap probe runs every interval, so a recovered source is polled at once.

Widgets never fetch and import no fetching module: the App builds one
:class:`sse_tui.model.View` per paint and sets each panel's ``view`` reactive. What a
source can do is read from its declared capability protocols (``isinstance(source,
Pager)``). Time comes from the injected ``clock`` so snapshot tests are deterministic.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Grid, Vertical
from textual.css.query import NoMatches
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Button, Footer, TabbedContent, TabPane, Tabs

from core.models import ConnectionPage, WorkerInfo
from sse_tui import fmt, keys
from sse_tui.literal import clean, line
from sse_tui.model import (
    Assessment,
    ConnectionQuery,
    DashboardState,
    Snapshot,
    View,
    backoff_delay,
    detail_now,
    worker_state,
)
from sse_tui.recording import Recorder, ReplaySource, open_private
from sse_tui.settings import export_dir as pick_export_dir
from sse_tui.settings import load_settings, save_settings
from sse_tui.sources import (
    AuthChecker,
    Cleaner,
    Disconnector,
    Historian,
    Pager,
    Prober,
    Reaper,
    Source,
    SourceError,
    namespace_of,
)
from sse_tui.widgets.ages import AgesPanel
from sse_tui.widgets.alerts import AlertsPanel
from sse_tui.widgets.banner import BannerStatus, RegistryNote, SourceDown, StatusBanner, StoreDown
from sse_tui.widgets.cleanup import CleanupPanel
from sse_tui.widgets.common import set_border
from sse_tui.widgets.config import ConfigPanel
from sse_tui.widgets.connections import ConnectionsPanel
from sse_tui.widgets.dialogs import CleanupDialog, ConfirmDialog, ConnectionDetail, HelpScreen, SeekDialog
from sse_tui.widgets.header import HeaderBar, HeaderStatus
from sse_tui.widgets.history import RANGES as HISTORY_RANGES
from sse_tui.widgets.history import HistoryView
from sse_tui.widgets.tables import ChannelsTable, ConnectionsView, WorkersTable

Clock = Callable[[], float]
INTERVAL_STEPS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
TERMINAL_LOST_GRACE_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 1.0
TICK_SECONDS = 1.0  # the header's and banner's ages are shown in whole seconds


class DashboardApp(App[None]):
    CSS_PATH = "dashboard.tcss"
    TITLE = "sse-dash"

    # every key is in sse_tui.keys (the footer's order, the scopes, and ? help come from there)
    BINDINGS = [*keys.APP_BINDINGS]

    # App state the screen shows: set them, the watchers repaint (never by hand)
    paused: var[bool] = var(False)  # the panels keep showing the snapshot they show
    interval: var[float] = var(1.0, always_update=True)  # seconds between polls (a set also polls now)
    auth_state: var[str | None] = var(None)  # what the service says of the token (sse_tui.sources.AuthState)

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
        remember_theme: bool = True,
    ) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        self.set_reactive(DashboardApp.interval, max(float(interval), 0.1))
        self.readonly = readonly
        self.recorder = recorder
        self.export_dir = export_dir
        self.watch_terminal = watch_terminal
        self.remember_theme = remember_theme
        self.state = DashboardState()
        self.cleanup_running = False
        self.action_running = False
        self.shown: Snapshot | None = None  # what the panels display (frozen while paused)
        self.shown_at: float | None = None
        self.is_replay = isinstance(source, ReplaySource)
        self.conn_query = ConnectionQuery()
        self._history_at: float | None = None  # when the history was last fetched (dashboard clock)
        self._history_range = "1h"
        self.conn_error: str | None = None
        self._wake = asyncio.Event()
        self._show_next_poll = False  # the next poll is shown even while paused (the user asked for it)
        self._theme_loaded = False

    # ------------------------------------------------------------------ capabilities

    @property
    def can_page(self) -> bool:
        return isinstance(self.source, Pager)

    def why_no_action(self, capability: type) -> str | None:
        """None when an action is possible, else why not (shown to the user)."""
        if self.is_replay:
            return "a replay cannot be changed"
        if self.readonly:
            return "read-only (--readonly)"
        if not isinstance(self.source, capability):
            return "this source does not support it"
        if self.auth_state in ("rejected", "missing", "disabled"):
            return {"rejected": "token rejected", "missing": "no token (SSE_MONITORING_TOKEN or --token-file)",
                    "disabled": "actions are disabled on the service (no token configured)"}[self.auth_state]
        return None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield StatusBanner(id="banner")
        with TabbedContent(id="tabs", initial="overview"):
            with TabPane("Overview", id="overview"):
                with Grid(id="overview-grid"):
                    yield ConnectionsPanel(id="connections-panel", classes="panel")
                    yield AgesPanel(id="ages-panel", classes="panel")
                    yield CleanupPanel(readonly=self.readonly or self.is_replay, id="cleanup-panel", classes="panel")
                    yield AlertsPanel(id="alerts-panel", classes="panel")
            with TabPane("Workers & connections", id="connections"):
                with Vertical(id="workers-box", classes="panel"):
                    yield WorkersTable(id="workers-table")
                yield ConnectionsView(id="connections-view", classes="panel")
            with TabPane("Channels", id="channels"):
                yield ChannelsTable(id="channels-table", classes="panel")
            with TabPane("Configuration", id="config"):
                yield ConfigPanel(id="config-panel", classes="panel")
            with TabPane("History", id="history"):
                yield HistoryView(id="history-view", classes="panel", range_keys=keys.range_hint(self.get_key_display))
        yield Footer()

    def on_mount(self) -> None:
        # the dashboard screen; queries go through it so a dialog on top never hides a panel
        self._main = self.screen
        titles = {
            "#connections-panel": "Connections",
            "#ages-panel": "Connection ages",
            "#cleanup-panel": "Cleanup",
            "#alerts-panel": "Alerts & events",
            "#workers-box": "Workers",
            "#connections-view": "Connections",
            "#channels-table": "Channels",
            "#config-panel": "Configuration",
            "#history-view": f"Fleet history ({keys.range_hint(self.get_key_display)} range)",
        }
        for selector, title in titles.items():
            set_border(self._main.query_one(selector), title=title)
        if self.remember_theme:
            theme = load_settings().get("theme")
            if isinstance(theme, str) and theme in self.available_themes:
                self.theme = theme
        self._theme_loaded = True
        self._render_header()
        self.set_interval(TICK_SECONDS, self._tick)
        if self.watch_terminal and not self.is_headless:
            self._install_terminal_watch()
        if isinstance(self.source, AuthChecker) and not self.readonly and not self.is_replay:
            self._check_auth()
        self._poll_loop()

    def _mounted(self) -> bool:
        return getattr(self, "_main", None) is not None

    def watch_paused(self, paused: bool) -> None:
        """Resuming shows the latest poll at once (a replay moves on); the header says which."""
        if not self._mounted():
            return
        if not paused:
            self.render_all()
            if self.is_replay:
                self._wake.set()
        self._render_header()

    def watch_interval(self) -> None:
        """A new interval: the header says it, and the next poll is now."""
        if self._mounted():
            self._render_header()
            self._wake.set()

    def watch_auth_state(self) -> None:
        if self._mounted():
            self._render_banner()

    def watch_theme(self, theme: str) -> None:
        if self.remember_theme and getattr(self, "_theme_loaded", False):
            save_settings(theme=theme)

    def say(self, message: str, *, severity: str = "information", title: str = "", timeout: float | None = None) -> None:
        """A notification whose text is literal (it may carry wire data)."""
        kwargs = {} if timeout is None else {"timeout": timeout}
        self.notify(clean(message, 600), title=title, severity=severity, markup=False, **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ polling

    @work(exclusive=True, group="auth", exit_on_error=False)
    async def _check_auth(self) -> None:
        try:
            self.auth_state = await self.source.check_auth()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            self.auth_state = "unknown"

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def _poll_loop(self) -> None:
        while True:
            self._wake.clear()  # before the poll: a wake during it (a new query) polls again at once
            if not (self.paused and self.is_replay):
                await self.poll_once()  # renders, with the next poll's time known
            else:
                self._schedule_next_poll()
                self._tick()
            delay = backoff_delay(self.interval, self.state.failures)
            await self._wait(delay)

    async def _wait(self, delay: float) -> None:
        """Sleep ``delay`` or until woken; while backing off, probe every interval."""
        if self.state.failures == 0 or self.is_replay:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + delay
        step = max(min(self.interval, 2.0), 0.5)
        while (left := end - loop.time()) > 0:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min(step, left))
                return
            except TimeoutError:
                pass
            if await self._probe():
                return

    async def _probe(self) -> bool:
        """Is the source reachable again? (``Prober`` sources only; cheap)."""
        if not isinstance(self.source, Prober):
            return False
        try:
            return await asyncio.wait_for(self.source.probe(), PROBE_TIMEOUT_SECONDS * 2)
        except (TimeoutError, Exception):  # noqa: BLE001 - a failed probe is just "not yet"
            return False

    async def poll_once(self) -> None:
        """One fetch (and the visible tab's page); never raises (a failure becomes the banner)."""
        try:
            snapshot = await self.source.fetch()
        except SourceError as exc:
            self.state.record_failure(exc.reason, self.clock())
        except Exception as exc:  # noqa: BLE001 - a bug in a source must not kill the UI
            self.state.record_failure(f"unexpected {type(exc).__name__}: {exc}", self.clock())
        else:
            snapshot = await self._with_page(snapshot)
            self._accept(snapshot)
            await self._refresh_channels()
            await self._refresh_history()
            await self._refresh_detail(snapshot)
        self._schedule_next_poll()
        force, self._show_next_poll = self._show_next_poll, False
        self.render_all(force=force)

    def _schedule_next_poll(self) -> None:
        self.state.next_poll_at = self.clock() + backoff_delay(self.interval, self.state.failures)

    def _active_tab(self) -> str | None:
        try:
            return self._main.query_one(TabbedContent).active
        except (NoMatches, AttributeError):
            return None

    async def _with_page(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with the connections page of the screen's query, fetched in the same
        poll (the list, the workers table and the dialogs then show one snapshot)."""
        if self._active_tab() != "connections" or not self.can_page:
            return snapshot
        if isinstance(self.source, ReplaySource):
            return dataclasses.replace(snapshot, page=self._replay_page(self.source))
        if snapshot.page is not None:
            return snapshot
        try:
            page = await self.source.list_connections(self.conn_query)  # type: ignore[attr-defined]
        except SourceError as exc:
            self.conn_error = exc.reason
            return snapshot
        self.conn_error = None
        return dataclasses.replace(snapshot, page=page)

    async def _refresh_channels(self) -> None:
        if self._active_tab() != "channels" or not self.can_page:
            return
        try:
            page = await self.source.channels()  # type: ignore[attr-defined]
        except SourceError as exc:
            self.say(f"channels: {exc.reason}", severity="warning", timeout=4)
            return
        self._main.query_one(ChannelsTable).page = page

    async def _refresh_history(self, *, force: bool = False) -> None:
        """The fleet's stored history: once at connect (so it is there the moment the tab
        opens), then while the History tab is shown, at most once per bucket step."""
        if not isinstance(self.source, Historian) or self.is_replay:
            return
        view = self._main.query_one(HistoryView)
        range_s, step = view.request_for(self._history_range)
        now = self.clock()
        due = self._history_at is None or (self._active_tab() == "history" and now - self._history_at >= max(step, 10.0))
        if not (force or due):
            return
        self._history_at = now
        try:
            series = await self.source.history(range_s, step)
        except SourceError as exc:
            view.show(view.series, self._history_range, message=f"history: {exc.reason}")
            return
        trends = self.shown.stats.performance_trends if self.shown is not None else ()
        view.show(series, self._history_range, trends=trends)

    @work(exclusive=True, group="history", exit_on_error=False)
    async def _history_now(self) -> None:
        await self._refresh_history(force=True)

    def action_history_range(self, delta: int) -> None:
        """``<`` / ``>``: the next shorter / longer range of the History tab, fetched now."""
        names = list(HISTORY_RANGES)
        i = names.index(self._history_range)
        name = names[min(max(i + delta, 0), len(names) - 1)]
        if name == self._history_range:
            self.say(f"{name} is already the {'shortest' if delta < 0 else 'longest'} range", timeout=2)
            return
        self._history_range = name
        self._main.query_one(HistoryView).select_range(name)
        self._history_now()

    def fetch_page(self) -> None:
        """The connections query changed (or the tab opened): show that page now. Live, that
        is a poll now, stats and page together (every count on screen from one snapshot),
        shown even while paused; a replay pages its frame's recorded page in memory."""
        if not self.can_page:
            return
        if isinstance(self.source, ReplaySource):
            if self.shown is not None:
                self.shown = dataclasses.replace(self.shown, page=self._replay_page(self.source))
            self._render_active_tab()
            return
        self._show_next_poll = True
        self._wake.set()

    def _replay_page(self, source: ReplaySource) -> ConnectionPage | None:
        try:
            page = source.page_for(self.conn_query)
        except SourceError as exc:
            self.conn_error = exc.reason
            return None
        self.conn_error = None
        return page

    def _accept(self, snapshot: Snapshot) -> None:
        now = self.clock()
        self.state.record_success(snapshot, now)
        if self.recorder is not None:
            try:
                self.recorder.write(snapshot, now)
            except OSError as exc:
                self.say(f"recording stopped: {exc}", severity="error")
                self.recorder = None

    # ------------------------------------------------------------------ rendering

    def _tick(self) -> None:
        """Once a second: the ages on screen move even when no poll renders (slow, paused, failing)."""
        self._render_header()
        self._render_banner()
        if self.state.last_error is not None or self.shown is None:
            self._render_active_tab()  # the age in the dimmed panels keeps moving
        if isinstance(self.screen, ConnectionDetail):
            self.screen.tick(self.clock())  # the detail's as-of age too

    def _assessment(self) -> Assessment:
        return self.state.assess(self.clock(), self.interval)

    def _render_header_impl(self) -> None:
        now = self.clock()
        src = self.source
        self._main.query_one(HeaderBar).status = HeaderStatus.of(
            source=src.describe(),
            snapshot=self.shown,
            assessment=self._assessment(),
            data_age=None if self.shown_at is None else max(now - self.shown_at, 0.0),
            interval=self.interval,
            paused=self.paused,
            readonly=self.readonly,
            replay=(src.path.name, src.frame_label) if isinstance(src, ReplaySource) else None,
            latest=self.shown is self.state.snapshot,
        )

    def _render_banner_impl(self) -> None:
        now = self.clock()
        source_down = store_down = None
        if self.state.last_error is not None:
            retry_in = None if self.state.next_poll_at is None else self.state.next_poll_at - now
            source_down = SourceDown(self.state.last_error, self.state.data_age(now), retry_in, self.state.failures)
        snap = self.state.snapshot
        if snap is not None and snap.store_down:
            st = snap.stats.store_status
            ref = snap.stats.now or now
            store_down = StoreDown(st.state if st.state != "up" else "unreachable", st.reason,
                                   None if st.since is None else max(ref - st.since, 0.0))
        registry = None
        if snap is not None and not snap.store_down and snap.registry_unsettled:
            reg = snap.stats.registry
            ref = snap.stats.now or now
            registry = RegistryNote(reg.state, reg.reason, None if reg.since is None else max(ref - reg.since, 0.0),
                                    tuple(reg.pending_workers), namespace_of(self.source))
        auth = self.auth_state
        if auth == "missing" and (self.readonly or self.is_replay):
            auth = None
        self._main.query_one(StatusBanner).status = BannerStatus.of(source_down=source_down, store_down=store_down,
                                                                    auth=auth, registry=registry)

    def _render_all_impl(self, force: bool = False) -> None:
        self._render_banner()
        snap = self.state.snapshot
        if snap is not None and (force or not self.paused):
            self.shown, self.shown_at = snap, self.state.last_ok_at
        self._render_header()
        if snap is None or force or not self.paused:
            self._render_active_tab()

    def make_view(self) -> View:
        snap = self.shown
        now = self.clock()
        data_now = now
        if snap is not None and snap.recorded_at is not None:
            data_now = snap.recorded_at
        return View(snapshot=snap, assessment=self._assessment(), history=self.state.history,
                    events=tuple(self.state.events), now=data_now, readonly=self.readonly)

    def _render_active_tab(self) -> None:
        """Paint only what can be seen: hidden tabs are painted when they are activated."""
        view = self.make_view()
        tab = self._active_tab()
        if tab == "overview":
            for panel in (ConnectionsPanel, AgesPanel, CleanupPanel, AlertsPanel):
                self._main.query_one(panel).view = view  # type: ignore[attr-defined]  # each panel declares a view reactive
            stats = view.stats
            title = "Alerts & events"
            if stats is not None:
                hi = stats.health_indicators
                if hi.alerts or hi.warnings:
                    title += f" ({len(hi.alerts)} alerts, {len(hi.warnings)} warnings)"
            set_border(self._main.query_one("#alerts-panel"), title=title)
        elif tab == "connections":
            self._main.query_one(WorkersTable).view = view
            cv = self._main.query_one(ConnectionsView)
            cv.error = self.conn_error if self.can_page else "this source does not list connections"
            cv.recorded = self.source.recorded_scope() if isinstance(self.source, ReplaySource) else None
            cv.view = view
            page = None if self.shown is None else self.shown.page
            if page is not None and page is not cv.page:
                cv.page = page
            else:
                cv.show_caption()
        elif tab == "config":
            self._main.query_one(ConfigPanel).view = view
            stats = view.stats
            if stats is not None and stats.configuration.validation_warnings:
                set_border(self._main.query_one("#config-panel"),
                           title=f"Configuration ({len(stats.configuration.validation_warnings)} warnings)")

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()  # the footer shows the keys of the tab now shown
        tab = event.pane.id if event.pane is not None else None
        if tab == "connections":
            self.fetch_page()
        elif tab == "channels":
            self._channels_now()
        elif tab == "history":
            self.call_after_refresh(self._history_now)  # once laid out: the step follows the chart's width
        try:
            self._render_active_tab()
        except NoMatches:
            pass

    @work(exclusive=True, group="channels", exit_on_error=False)
    async def _channels_now(self) -> None:
        await self._refresh_channels()

    @on(ConnectionsView.QueryChanged)
    def _query_changed(self, event: ConnectionsView.QueryChanged) -> None:
        self.conn_query = event.query
        self.fetch_page()

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
        """Scoped keys (sse_tui.keys): replay keys on a replay, a tab's keys while it shows."""
        if action in keys.REPLAY_ACTIONS:
            return self.is_replay
        if action in keys.HISTORY_ACTIONS:
            return self._on_main() and self._active_tab() == "history" and isinstance(self.source, Historian) \
                and not self.is_replay
        if action in keys.CONNECTIONS_ACTIONS:
            if not (self._on_main() and self._active_tab() == "connections"):
                return False
            if parameters == ("clear_filter",):  # Esc only while there is a search to clear
                return self._main.query_one(ConnectionsView).search_open
        return True

    def _on_main(self) -> bool:
        """The dashboard itself is on top (no dialog): tab-scoped keys act on what is seen."""
        return getattr(self, "_main", None) is not None and self.screen is self._main

    async def action_connections(self, action: str) -> None:
        """A key of the connections tab (sse_tui.keys.CONNECTIONS): the view's own action."""
        await self.run_action(action, self._main.query_one(ConnectionsView))

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused  # watch_paused repaints

    def action_refresh_now(self) -> None:
        self._wake.set()

    def _set_interval(self, value: float) -> None:
        self.interval = value  # watch_interval repaints and polls

    def action_slower(self) -> None:
        bigger = [s for s in INTERVAL_STEPS if s > self.interval]
        self._set_interval(bigger[0] if bigger else self.interval)

    def action_faster(self) -> None:
        floor = 0.1 if self.is_replay else 0.5
        smaller = [s for s in INTERVAL_STEPS if floor <= s < self.interval]
        self._set_interval(smaller[-1] if smaller else self.interval)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_tab(self, tab: str) -> None:
        tabs = self._main.query_one(TabbedContent)
        if tabs.active == tab:
            return
        focused = self._main.focused
        if focused is not None and tabs.active_pane is not None and tabs.active_pane in focused.ancestors:
            # Hiding a focused widget makes Textual focus a visible sibling (the search box),
            # which switches the tab back: leave the pane first, for the tab row.
            self._main.set_focus(tabs.query_one(Tabs))
        tabs.active = tab

    def action_filter(self) -> None:
        self.action_tab("connections")
        self._main.query_one(ConnectionsView).open_filter()

    def action_sort(self) -> None:
        self.action_tab("connections")
        sort_by = self._main.query_one(ConnectionsView).cycle_sort()
        self.say(f"connections sorted by {sort_by}", timeout=2)

    # -- replay

    def _show_frame(self, snapshot: Snapshot, *, reset: bool = False) -> None:
        self.paused = True
        if reset:
            self.state.reset_events()
        if self._active_tab() == "connections" and isinstance(self.source, ReplaySource):
            snapshot = dataclasses.replace(snapshot, page=self._replay_page(self.source))
        self._accept(snapshot)
        self.render_all(force=True)

    def action_step(self, delta: int) -> None:
        if isinstance(self.source, ReplaySource):
            self._show_frame(self.source.step(delta))

    def action_next_alert(self, direction: int) -> None:
        if not isinstance(self.source, ReplaySource):
            return
        frame = self.source.next_alert(direction)
        if frame is None:
            self.say("no further alert in this recording" if direction > 0 else "no earlier alert", timeout=3)
            return
        self._show_frame(frame, reset=direction < 0)

    def action_seek(self) -> None:
        src = self.source
        if not isinstance(src, ReplaySource):
            return
        self.push_screen(SeekDialog(src.times[0], src.times[-1], src.current.recorded_at or src.times[0]), self._seek_to)

    def _seek_to(self, when: float | None) -> None:
        if when is None or not isinstance(self.source, ReplaySource):
            return
        self._show_frame(self.source.seek(when), reset=True)

    # -- files

    def _private_path(self, stem: str, suffix: str) -> Path:
        folder = pick_export_dir(self.export_dir)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.clock()))
        path = folder / f"{stem}-{stamp}{suffix}"
        n = 1
        while path.exists():
            n += 1
            path = folder / f"{stem}-{stamp}-{n}{suffix}"
        return path

    def action_export(self) -> None:
        snap = self.state.snapshot
        if snap is None:
            self.say("nothing to export yet", severity="warning")
            return
        path = self._private_path("sse-dash", ".json")
        try:
            with open_private(path, "w") as fh:
                fh.write(json.dumps(snap.stats.model_dump(mode="json"), indent=2) + "\n")
        except OSError as exc:
            self.say(f"export failed: {exc.strerror or exc}", severity="error")
            return
        self.say(f"exported snapshot to {path}")

    def action_timeline(self) -> None:
        self._write_timeline()

    @work(exclusive=True, group="timeline", exit_on_error=False)
    async def _write_timeline(self) -> None:
        """``t``: the Markdown timeline (sse_tui.timeline_run) in the export directory."""
        from sse_tui.timeline_run import dashboard_timeline
        message, severity = await dashboard_timeline(self.source, self._history_range,
                                                     self._private_path("sse-dash-timeline", ".md"), self.clock())
        self.say(message, severity=severity, timeout=8)

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Screenshots go to the export directory (which exists), 0600, full path shown."""
        target = Path(path) / filename if path and filename else self._private_path("sse-dash", ".svg")
        try:
            svg = self.export_screenshot()
            with open_private(target, "w") as fh:
                fh.write(svg)
        except OSError as exc:
            self.say(f"screenshot failed: {exc.strerror or exc}", severity="error")
            return None
        self.say(f"saved screenshot to {target}", title="Screenshot")
        return str(target)

    # -- cleanup

    def action_cleanup(self) -> None:
        why = self.why_no_action(Cleaner)
        if why is not None:
            self.say(f"cleanup unavailable: {why}", severity="warning", timeout=5)
            return
        if self.cleanup_running:
            self.say("a cleanup is already running", severity="warning")
            return
        if isinstance(self.screen, CleanupDialog):
            return
        # the snapshot the panels and the list show (frozen while paused): the dialog's count
        # is of the same one, never of a newer poll the screen does not show
        snap = self.shown
        batch = snap.stats.configuration.cleanup_batch_size if snap else 10
        now = self.clock()
        age = None if self.shown_at is None else max(now - self.shown_at, 0.0)
        old = self.state.last_error is not None or age is None or age > max(3 * self.interval, 5.0)
        trusted = self._assessment().trusted and not old
        stale = snap.stats.cleanup_stats.stale if snap is not None and trusted else None
        warning = None
        if not trusted:
            if age is None:
                warning = "No data has been received from the source yet."
            else:
                warning = f"The data on screen is {fmt.age(age)} old"
                if self.state.last_error:
                    warning += f" (last poll failed: {self.state.last_error})"
                elif snap is not None and snap.store_down:
                    warning += " (the store is down: counts unknown)"
                elif snap is not None and snap.registry_unsettled:
                    warning += (f" (the registry is {snap.registry_state}: counts unknown; the service runs no "
                                "cleanup until it settles)")
                elif self.paused:
                    warning += " (paused)"
                warning += "; the service may have changed."
        self.push_screen(CleanupDialog(self.source.describe(), max(batch, 1), warning, stale), self._cleanup_confirmed)

    def _cleanup_confirmed(self, batch: int | None) -> None:
        if batch is not None:
            self.run_cleanup(batch)

    @work(exclusive=True, group="cleanup", exit_on_error=False)
    async def run_cleanup(self, batch_size: int) -> None:
        self.cleanup_running = True
        try:
            result = await self.source.cleanup(batch_size)  # type: ignore[attr-defined]
        except SourceError as exc:
            self.say(f"Cleanup failed: {exc.reason}", title="Cleanup", severity="error", timeout=10)
            return
        except Exception as exc:  # noqa: BLE001
            self.say(f"Cleanup failed: {type(exc).__name__}: {exc}", title="Cleanup", severity="error", timeout=10)
            return
        finally:
            self.cleanup_running = False
        if result.skipped:  # the service ran nothing (its registry settles): not "cleaned 0"
            self.say(f"cleanup skipped: {result.skipped}", title="Cleanup", severity="warning", timeout=10)
            self._wake.set()
            return
        message = f"cleaned {result.cleaned}, failed {result.failed} in {result.duration_ms:.0f} ms"
        if result.dead_workers_reaped:
            message += f", reaped {result.dead_workers_reaped} dead worker(s)"
        if result.error:
            self.say(f"{message}: {result.error}", title="Cleanup", severity="error", timeout=10)
        else:
            self.say(message, title="Cleanup", severity="warning" if result.failed else "information")
        self._wake.set()

    # -- one connection

    @on(ConnectionsView.Opened)
    def _open_connection(self, event: ConnectionsView.Opened) -> None:
        self.open_detail(event.connection_id)

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def open_detail(self, connection_id: str) -> None:
        if not self.can_page:
            return
        try:
            record = await self.source.connection(connection_id)  # type: ignore[attr-defined]
        except SourceError as exc:
            self.say(f"connection detail: {exc.reason}", severity="error")
            return
        if record is None:
            self.say(f"connection {connection_id} is gone", severity="warning")
            self.fetch_page()
            return
        page = self._main.query_one(ConnectionsView).page
        snap = self.state.snapshot
        now = detail_now(page.now if page is not None else (snap.stats.now if snap and snap.stats.now else self.clock()),
                         record)
        th = snap.thresholds if snap is not None else self.make_view().thresholds
        why = self.why_no_action(Disconnector)
        screen = ConnectionDetail(record, now, th, can_disconnect=why is None, why_not=why,
                                  worker=self._worker_of(snap, record.worker_id), fetched_at=self.clock())
        self.push_screen(screen, lambda choice: self._detail_closed(record.connection_id, record.client_address, choice))

    @staticmethod
    def _worker_of(snap: Snapshot | None, worker_id: str) -> WorkerInfo | None:
        if snap is None or snap.stats.workers is None:
            return None
        return next((w for w in snap.stats.workers if w.worker_id == worker_id), None)

    async def _refresh_detail(self, snapshot: Snapshot) -> None:
        """The open connection detail, fetched again with every poll (its counts, idle time
        and worker state live; gone when it left the registry). Frozen while paused."""
        if not isinstance(self.screen, ConnectionDetail) or self.paused or not self.can_page:
            return
        detail: ConnectionDetail = self.screen
        try:
            record = await self.source.connection(detail.record.connection_id)  # type: ignore[attr-defined]
        except SourceError as exc:
            detail.refresh_failed(exc.reason)
            return
        if self.screen is not detail:  # closed meanwhile
            return
        now = detail_now(snapshot.stats.now if snapshot.stats.now is not None else self.clock(), record)
        detail.show(record, now, snapshot.thresholds, worker=self._worker_of(snapshot, detail.record.worker_id),
                    fetched_at=self.clock())

    def _detail_closed(self, connection_id: str, client: str, choice: str | None) -> None:
        if choice != "disconnect":
            return
        body = line("Close stream ", (connection_id, "bold"), " of client ", (client or "-", "bold"),
                    " on its worker and remove it from the registry?")
        def confirmed(ok: bool | None) -> None:
            if ok:
                self.run_disconnect(connection_id)
        self.push_screen(ConfirmDialog("Disconnect this connection?", body, "Disconnect"), confirmed)

    @work(exclusive=True, group="action", exit_on_error=False)
    async def run_disconnect(self, connection_id: str) -> None:
        try:
            result = await self.source.disconnect(connection_id)  # type: ignore[attr-defined]
        except SourceError as exc:
            self.say(f"Disconnect failed: {exc.reason}", title="Disconnect", severity="error", timeout=10)
            return
        where = "closed here" if result.closed_locally else (
            f"its worker {result.worker_id} closes it at its next flush" if result.worker_id else "removed")
        if result.removed:
            self.say(f"disconnected {result.connection_id} ({where})", title="Disconnect")
        else:
            self.say(f"{result.connection_id} was already gone", title="Disconnect", severity="warning")
        self.fetch_page()
        self._wake.set()

    # -- one worker

    @on(WorkersTable.ReapRequested)
    def _reap_requested(self, event: WorkersTable.ReapRequested) -> None:
        self.ask_reap(event.worker)

    def ask_reap(self, worker: WorkerInfo) -> None:
        why = self.why_no_action(Reaper)
        if why is not None:
            self.say(f"reap unavailable: {why}", severity="warning", timeout=5)
            return
        snap = self.state.snapshot
        ttl = snap.thresholds.heartbeat_ttl_seconds if snap else self.make_view().thresholds.heartbeat_ttl_seconds
        state = worker_state(worker, ttl)
        if state != "dead":
            why = {"alive": "is alive", "late": "is LATE, not dead (yet)",
                   "unknown": "is in an unknown state (its heartbeat cannot tell)"}[state]
            self.say(f"worker {worker.worker_id} {why} (heartbeat {fmt.age(worker.heartbeat_age_seconds)} ago): "
                     "nothing to reap", severity="warning", timeout=5)
            return
        cause = worker.state_reason or f"no heartbeat for {fmt.age(worker.heartbeat_age_seconds)}"
        body = line("Remove the ", (str(worker.connections), "bold"), " connection(s) of DEAD worker ",
                    (worker.worker_id, "bold"), f" ({cause}) now?")
        def confirmed(ok: bool | None) -> None:
            if ok:
                self.run_reap(worker.worker_id)
        self.push_screen(ConfirmDialog("Reap this worker now?", body, "Reap"), confirmed)

    @work(exclusive=True, group="action", exit_on_error=False)
    async def run_reap(self, worker_id: str) -> None:
        try:
            result = await self.source.reap_worker(worker_id)  # type: ignore[attr-defined]
        except SourceError as exc:
            self.say(f"Reap failed: {exc.reason}", title="Reap", severity="error", timeout=10)
            return
        self.say(f"reaped worker {result.worker_id}: {result.removed} connection(s) removed", title="Reap")
        self.fetch_page()
        self._wake.set()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cleanup-button":
            self.action_cleanup()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.why_no_action(Cleaner) is None:
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
            os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ is not None else -1)
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


def make_app(source: Source, clock: Clock = time.time, **kwargs: Any) -> DashboardApp:
    """Build the dashboard for ``source``; ``clock`` returns epoch seconds."""
    return DashboardApp(source, clock, **kwargs)
