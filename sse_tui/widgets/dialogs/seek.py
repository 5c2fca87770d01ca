"""Replay: jump to a recorded time."""

from __future__ import annotations

import time

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from sse_tui import keys
from sse_tui.literal import line

__all__ = ["SeekDialog"]


class SeekDialog(ModalScreen[float | None]):
    """Replay: jump to a recorded time (``HH:MM[:SS]`` UTC on the recording's day, or ``-5m`` / ``+30s``)."""

    BINDINGS = [*keys.SEEK]

    def __init__(self, first: float, last: float, current: float) -> None:
        super().__init__()
        self.first, self.last, self.current = first, last, current

    def compose(self) -> ComposeResult:
        def fmt_t(t: float) -> str:
            return time.strftime("%H:%M:%S", time.gmtime(t))

        with Vertical(id="dialog"):
            yield Static(line(("Seek the replay", "bold")), id="dialog-title")
            yield Static(line(f"recording {fmt_t(self.first)}–{fmt_t(self.last)} UTC, now at ", (fmt_t(self.current), "bold")))
            yield Static("time (HH:MM[:SS] UTC) or offset (-5m, +30s):")
            yield Input(placeholder="10:31:00", id="seek-input", compact=True)

    def on_mount(self) -> None:
        self.query_one("#seek-input", Input).focus()

    def parse(self, text: str) -> float | None:
        text = text.strip()
        if not text:
            return None
        try:
            if text[0] in "+-":
                unit = {"s": 1, "m": 60, "h": 3600}.get(text[-1], 1)
                number = float(text[1:-1] if text[-1] in "smh" else text[1:])
                return self.current + (1 if text[0] == "+" else -1) * number * unit
            parts = [int(p) for p in text.split(":")]
            while len(parts) < 3:
                parts.append(0)
            h, m, s = parts[:3]
            day = self.first - (self.first % 86400)
            return day + h * 3600 + m * 60 + s
        except ValueError:
            return None

    @on(Input.Submitted, "#seek-input")
    def _submitted(self, event: Input.Submitted) -> None:
        when = self.parse(event.value)
        if when is None:
            self.notify("not a time: use HH:MM[:SS] or -5m / +30s", severity="error", markup=False)
            return
        self.dismiss(when)

    def action_cancel(self) -> None:
        self.dismiss(None)
