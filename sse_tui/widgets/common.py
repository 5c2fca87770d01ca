"""Shared widget plumbing: the ``view`` reactive, freshness dimming, number formatting."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import Assessment

UNKNOWN = "?"


def num(value: int | float | None, spec: str = "") -> str:
    """A number, or ``?`` when it is unknown (never 0 for unknown)."""
    if value is None:
        return UNKNOWN
    return format(value, spec)


def apply_freshness(widget: Widget, assessment: Assessment) -> None:
    """Dim a panel that shows old or unknown data, and say how old in its border."""
    if widget.has_class("-old") != (assessment.freshness == "old"):
        widget.set_class(assessment.freshness == "old", "-old")
    if widget.has_class("-unknown") != (assessment.freshness == "unknown"):
        widget.set_class(assessment.freshness == "unknown", "-unknown")
    if assessment.freshness == "current":
        set_border(widget, subtitle="")
        return
    if not assessment.store_up and assessment.source_up:
        age = " · numbers unknown"
    else:
        age = "" if assessment.age is None else f" · data {fmt.age(assessment.age)} old"
    set_border(widget, subtitle=f"{assessment.badge or 'UNKNOWN'}{age}")


def set_border(widget: Widget, *, title: str | None = None, subtitle: str | None = None) -> None:
    """Set a border title / subtitle only when it changes (each set repaints the screen)."""
    if title is not None and getattr(widget, "_sse_dash_title", None) != title:
        widget._sse_dash_title = title  # type: ignore[attr-defined]
        widget.border_title = Content(title)
    if subtitle is not None and getattr(widget, "_sse_dash_subtitle", None) != subtitle:
        widget._sse_dash_subtitle = subtitle  # type: ignore[attr-defined]
        widget.border_subtitle = Content(subtitle) if subtitle else None


def set_content(widget: Static, content: Content, *, layout: bool = True) -> bool:
    """Update ``widget`` unless it already shows ``content``.

    A Static update re-lays out the whole screen by default; at one poll a second that
    was most of sse-dash's CPU. Only a change in the number or width of lines (which can
    change the widget's size) asks for a layout pass.
    """
    key = (content.plain, tuple(content.spans))
    previous = getattr(widget, "_sse_dash_key", None)
    if previous == key:
        return False
    shape = (content.plain.count("\n"), content.cell_length if "\n" not in content.plain else 0)
    old_shape = getattr(widget, "_sse_dash_shape", None)
    widget._sse_dash_key = key  # type: ignore[attr-defined]
    widget._sse_dash_shape = shape  # type: ignore[attr-defined]
    widget.update(content, layout=layout and (old_shape is None or old_shape[0] != shape[0]))
    return True


BLOCKS = "▂▃▄▅▆▇█"


def spark(values: list[float | None], width: int) -> str:
    """A sparkline on a zero baseline: 0 is the lowest block, the top is the max seen.

    A 9 % drop moves a bar by at most one step (no cliff); an unknown sample is a gap;
    a lone 0 (the first frame) draws the lowest block, not a full bar.
    """
    pts = values[-width:] if width > 0 else []
    known = [v for v in pts if v is not None]
    top = max(known, default=0.0)
    out = []
    for v in pts:
        if v is None:
            out.append(" ")
        elif v <= 0 or top <= 0:
            out.append("▁")
        else:
            level = max(0, min(len(BLOCKS) - 1, int(round(v / top * len(BLOCKS))) - 1))
            out.append(BLOCKS[level])
    return "".join(out)


def range_label(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "no data"
    lo, hi = min(known), max(known)
    return f"{lo:g}–{hi:g}" if lo != hi else f"{hi:g}"


__all__ = ["UNKNOWN", "num", "apply_freshness", "set_content", "spark", "range_label", "line"]
