"""The cleanup confirmation: the batch size, and how current the stale count it shows is."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from sse_tui import keys
from sse_tui.literal import line

__all__ = ["CleanupDialog"]


class CleanupDialog(ModalScreen[int | None]):
    """Asks for the batch size; dismisses with it (confirm) or None (cancel)."""

    BINDINGS = [*keys.CONFIRM]

    def __init__(self, source: str, batch_size: int, stale_warning: str | None = None,
                 stale_count: int | None = None) -> None:
        super().__init__()
        self.source = source
        self.batch_size = batch_size
        self.stale_warning = stale_warning
        self.stale_count = stale_count

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(line(("Run a cleanup now?", "bold")), id="dialog-title")
            yield Static(line("Removes stale connections from ", (self.source, "bold"), "."))
            count = "unknown (no current count)" if self.stale_count is None else str(self.stale_count)
            yield Static(line("Stale connections now: ", (count, "bold")), id="dialog-count")
            if self.stale_warning:
                yield Static(line(("▲ ", "bold $warning"), (self.stale_warning, "bold $warning")), id="dialog-stale")
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
            self.notify("batch size must be a positive whole number", severity="error", markup=False)
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
