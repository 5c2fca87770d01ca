"""Modal screens: the cleanup confirmation and the help page."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class CleanupDialog(ModalScreen[int | None]):
    """Asks for the batch size; dismisses with it (confirm) or None (cancel)."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", priority=True),
        Binding("n", "cancel", "No", priority=True),
        Binding("escape", "cancel", "Cancel", priority=True),
    ]

    def __init__(self, source: str, batch_size: int, stale_warning: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.batch_size = batch_size
        self.stale_warning = stale_warning

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("[b]Run a cleanup now?[/b]", id="dialog-title")
            yield Static(f"Removes stale connections from [b]{escape(self.source)}[/b].")
            if self.stale_warning:
                yield Static(f"[b $warning]▲ {escape(self.stale_warning)}[/]", id="dialog-stale")
            with Horizontal(id="dialog-batch"):
                yield Static("batch size ", classes="label")
                yield Input(str(self.batch_size), type="integer", id="batch-size", compact=True)
            with Horizontal(id="dialog-buttons"):
                yield Button("Clean up (y)", variant="warning", id="confirm", compact=True)
                yield Button("Cancel (n)", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def _batch(self) -> int | None:
        try:
            value = int(self.query_one("#batch-size", Input).value)
        except ValueError:
            return None
        return value if value > 0 else None

    def action_confirm(self) -> None:
        batch = self._batch()
        if batch is None:
            self.notify("batch size must be a positive whole number", severity="error")
            return
        self.dismiss(batch)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted, "#batch-size")
    def _submitted(self) -> None:
        self.action_confirm()


HELP_TEXT = """\
[b]sse-dash[/b] — live view of an SSE connection manager's /monitoring data

[b]Keys[/b]
  [b]c[/b]            cleanup now (asks first; not in --readonly)
  [b]p[/b] / [b]space[/b]    pause / resume rendering (data age keeps ticking)
  [b]r[/b]            refresh now
  [b]+[/b] / [b]-[/b]        slower / faster refresh interval
  [b]e[/b]            export the current snapshot as JSON (current directory)
  [b]/[/b]            filter the connections table · [b]o[/b] cycle its sort
  [b]1[/b] [b]2[/b] [b]3[/b]        overview · workers & connections · configuration tabs
  [b],[/b] / [b].[/b]        step a --replay back / forward (pauses)
  [b]ctrl+p[/b]       command palette (themes, actions)
  [b]?[/b]            this help · [b]q[/b] quit

[b]Health[/b]  [b $success]HEALTHY[/] no issues · [b $warning]DEGRADED[/] warnings · [b $error]UNHEALTHY[/] critical alerts
A red STALE banner means the last poll failed: the data shown is the last good data.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("q", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(HELP_TEXT)

    def action_close(self) -> None:
        self.dismiss(None)
