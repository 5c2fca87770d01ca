"""Help: every key, made from the bindings themselves (sse_tui.keys), then the legend."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from sse_tui import keys
from sse_tui.literal import line, lines

__all__ = ["HELP_LEGEND", "HelpScreen", "help_text"]


HELP_LEGEND: list[Content] = [
    line(("Health  ", "bold"), ("✔ HEALTHY", "bold $success"), " no issues · ", ("▲ DEGRADED", "bold $warning"),
         " warnings · ", ("✖ UNHEALTHY", "bold $error"), " critical alerts"),
    line(("? SOURCE DOWN", "bold $error"), " last poll failed: panels are dimmed, aged, not current."),
    line(("? STORE DOWN", "bold $error"), " the service cannot read its store: numbers are ? (unknown)."),
    line(("✖ DEAD", "bold $error"), " worker: heartbeat older than the fleet's TTL, or its process seen gone; ",
         ("▲ LATE", "bold $warning"), " heartbeat older than two flushes (hung, slow, or dead and not yet sure); ",
         ("? UNKNOWN", "bold"), " its heartbeat cannot tell (the store refuses writes or has just come back)."),
    line(("? REBUILDING", "bold $error"), " the store lost the fleet's data; ", ("? SETTLING", "bold $warning"),
         " it is back after an outage; ", ("? EMPTY", "bold $error"),
         " nothing under the namespace: the registry's numbers are ? until it settles."),
    line(("18 · 4s ago", "bold"), " a connection's events / bytes as counted 4s before the list was taken (not now)."),
]


def help_text(key_display: Callable[[Binding], str], palette_key: str = "ctrl+p") -> str:
    """Help as plain text (what the help screen shows, one line per key; for tests and docs)."""
    out = []
    for section in keys.help_sections(palette_key):
        out.append(section.title)
        out += [f"  {r.keys:<12}{r.text}" for r in keys.help_rows(section, key_display)]
    return "\n".join(out)


class HelpScreen(ModalScreen[None]):
    """Every key, made from the bindings themselves (:mod:`sse_tui.keys`), then the legend.
    Each row is a key column and a text column that wraps within itself."""

    BINDINGS = [*keys.HELP]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(line(("sse-dash", "bold"), " — live view of an SSE connection manager's /monitoring data"))
            for section in keys.help_sections(self.app.COMMAND_PALETTE_BINDING):
                yield Static(line((section.title, "bold")), classes="help-section")
                for row in keys.help_rows(section, self.app.get_key_display):
                    with Horizontal(classes="help-row"):
                        yield Static(line((row.keys, "bold")), classes="help-keys")
                        yield Static(line(row.text), classes="help-text")
            yield Static(lines(HELP_LEGEND), classes="help-section")

    def action_close(self) -> None:
        self.dismiss(None)
