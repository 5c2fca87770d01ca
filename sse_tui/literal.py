"""Everything from the wire is data: literal, clean, bounded text for every widget.

A field that came from a client, a server or a recording (client address, channel, user
agent, alert message, error reason...) is never handed to Textual as a markup string.
Widgets build :class:`textual.content.Content` from ``(text, style)`` parts with
:func:`lit` / :func:`line`: the text is taken as is (no ``[...]`` parsing, so no
``MarkupError`` and no live ``[link=...]``), control characters are shown as visible
escapes, and very long values are cut with an ellipsis.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text
from textual.content import Content, Span

MAX_FIELD = 160  # characters of one wire value shown in a cell or a line


def clean(value: object, limit: int | None = MAX_FIELD) -> str:
    """``value`` as one printable line: control / format characters become ``\\xNN``."""
    s = "" if value is None else str(value)
    if s.isprintable() and (limit is None or len(s) <= limit):
        return s
    out: list[str] = []
    for ch in s:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    s = "".join(out)
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 1)] + "…"
    return s


Part = "str | tuple[object, str] | Content"


def lit(value: object, style: str = "", limit: int | None = MAX_FIELD) -> Content:
    """One wire value as literal styled content."""
    return Content.styled(clean(value, limit), style) if style else Content(clean(value, limit))


def line(*parts: object) -> Content:
    """Join parts into one Content; a part is a str (ours), ``(value, style)`` or Content.

    Plain ``str`` parts are the dashboard's own words; they are still taken literally.
    (The text and spans are built in one pass: the panels build ~60 lines a poll.)
    """
    texts: list[str] = []
    spans: list[Span] = []
    pos = 0
    for part in parts:
        if isinstance(part, Content):
            text = part.plain
            spans.extend(Span(pos + sp.start, pos + sp.end, sp.style) for sp in part.spans if sp.style)
        elif isinstance(part, tuple):
            value, style = part
            text = clean(value, None if not isinstance(value, str) else MAX_FIELD)
            if style and text:
                spans.append(Span(pos, pos + len(text), style))
        else:
            text = clean(part, None)
        texts.append(text)
        pos += len(text)
    return Content("".join(texts), spans)


def lines(rows: list[Content]) -> Content:
    return Content("\n").join(rows)


def cell(value: object, *, style: str = "", justify: str = "left", limit: int = MAX_FIELD) -> Text:
    """A DataTable cell: a rich ``Text`` (a ``str`` cell would be parsed as markup)."""
    return Text(clean(value, limit), style=style, justify=justify)  # type: ignore[arg-type]
