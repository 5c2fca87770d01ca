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
    if assessment.numbers_unknown:  # the store is down or the registry rebuilds, settles, is empty
        age = " · numbers unknown"
    else:
        age = "" if assessment.age is None else f" · data {fmt.age(assessment.age)} old"
    set_border(widget, subtitle=f"{assessment.badge or 'UNKNOWN'}{age}")


def set_border(widget: Widget, *, title: str | None = None, subtitle: str | None = None) -> None:
    """Set a border title / subtitle only when it changes (each set repaints the screen).

    The widget's own ``border_title`` / ``border_subtitle`` (console markup of what it
    shows) say what is shown: nothing of ours is stored on Textual's widgets."""
    if title is not None and widget.border_title != Content(title).markup:
        widget.border_title = Content(title)
    if subtitle is not None and widget.border_subtitle != (Content(subtitle).markup if subtitle else None):
        widget.border_subtitle = Content(subtitle) if subtitle else None


def set_content(widget: Static, content: Content, *, layout: bool = True) -> bool:
    """Update ``widget`` unless it already shows ``content``.

    A Static update re-lays out the whole screen by default; at one poll a second that
    was most of sse-dash's CPU. Only a change in the number of lines (which can change
    the widget's size) asks for a layout pass. What is shown is read from the Static's
    public ``content`` (text and styles compared: a Content compares equal on its text).
    """
    shown = widget.content
    if isinstance(shown, Content) and shown.plain == content.plain and tuple(shown.spans) == tuple(content.spans):
        return False
    lines = content.plain.count("\n")
    widget.update(content, layout=layout and (not isinstance(shown, Content) or shown.plain.count("\n") != lines))
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
