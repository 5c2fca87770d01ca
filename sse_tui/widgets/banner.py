"""STALE / ERROR banner: shown only while polls fail; the last good data stays below."""

from __future__ import annotations

from textual.markup import escape
from textual.widgets import Static

from sse_tui import fmt
from sse_tui.widgets.text import set_static


class StatusBanner(Static):
    DEFAULT_CSS = """
    StatusBanner { height: auto; display: none; background: $error 30%; color: $text; padding: 0 1; }
    StatusBanner.-shown { display: block; }
    """

    def show_error(self, reason: str, *, data_age: float | None, retry_in: float | None, failures: int) -> None:
        label = "STALE" if data_age is not None else "ERROR"
        text = f"[b reverse $error] {label} [/] {escape(reason)}"
        extra = []
        if data_age is not None:
            extra.append(f"showing data from {fmt.age(data_age)} ago")
        if retry_in is not None:
            extra.append(f"retry in {max(retry_in, 0):.0f}s (attempt {failures + 1})")
        if extra:
            text += f" [dim]— {'; '.join(extra)}[/dim]"
        set_static(self, text)
        self.add_class("-shown")

    def clear(self) -> None:
        self.remove_class("-shown")
