"""The banner: SOURCE DOWN (with the key that retries now), STORE DOWN, token rejected.

Shown only while something is wrong; the last good data stays below, dimmed.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from sse_tui import fmt
from sse_tui.literal import line, lines
from sse_tui.widgets.common import set_content


class StatusBanner(Static):
    DEFAULT_CSS = """
    StatusBanner { height: auto; display: none; background: $error 30%; color: $text; padding: 0 1; }
    StatusBanner.-shown { display: block; }
    """

    def show_lines(self, rows: list[Content]) -> None:
        if not rows:
            self.remove_class("-shown")
            return
        set_content(self, lines(rows))
        self.add_class("-shown")

    def clear(self) -> None:
        self.remove_class("-shown")


def source_down_line(reason: str, *, data_age: float | None, retry_in: float | None, failures: int) -> Content:
    label = "SOURCE DOWN" if data_age is not None else "NO DATA"
    extra = []
    if data_age is not None:
        extra.append(f"showing data from {fmt.age(data_age)} ago")
    if retry_in is not None:
        extra.append(f"retry in {max(retry_in, 0):.0f}s (attempt {failures + 1})")
    extra.append("press r to retry now")
    return line((f" {label} ", "bold reverse $error"), " ", (reason, ""), (" — " + "; ".join(extra), "dim"))


def store_down_line(state: str, reason: str | None, since_age: float | None) -> Content:
    why = f" ({reason})" if reason else ""
    since = f" for {fmt.age(since_age)}" if since_age is not None else ""
    return line((" STORE DOWN ", "bold reverse $error"), " ", (f"state store {state.replace('_', ' ')}{why}{since}", ""),
                (" — its numbers are unknown, shown as ?", "dim"))


def auth_line(message: str) -> Content:
    return line((" TOKEN ", "bold reverse $warning"), " ", (message, ""))
