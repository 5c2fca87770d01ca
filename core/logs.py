"""Structured logs: the guide's key=value lines (text) or JSON lines.

The messages themselves are the guide's ("SSE cleanup completed: cleaned=...",
"Periodic cleanup cycle: ...", "SSE configuration validated successfully: ...",
"SSE configuration validation warnings: ...", "Error during periodic SSE cleanup");
both formats keep them greppable as the guide's "Log Filtering" section shows: the JSON
format puts the same text in ``message`` and the parsed key=value pairs in ``fields``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

LOGGER_NAME = "sse"
_PAIR = re.compile(r"(\w+)=([^,\s]+)")
_SECRET = re.compile(r"(rediss?://)([^@/\s]*)@|(Bearer\s+)\S+", re.IGNORECASE)


def redact(text: str) -> str:
    """Remove passwords from Redis URLs and bearer tokens from any text."""
    return _SECRET.sub(lambda m: (m.group(1) + "***@") if m.group(1) else (m.group(3) + "***"), text)


def _value(raw: str) -> Any:
    """"12.5%" / "60s" / "5" -> numbers; anything else stays text."""
    for candidate in (raw, raw[:-1] if raw[-1:] in ("%", "s") else raw):
        for cast in (int, float):
            try:
                return cast(candidate)
            except ValueError:
                pass
    return raw


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, fields (parsed key=value)."""

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        fields = {k: _value(v) for k, v in _PAIR.findall(message)}
        if fields:
            doc["fields"] = fields
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, separators=(",", ":"))


def configure_logging(fmt: str = "text", level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Attach one handler to the ``sse`` logger (replacing one we attached before)."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        if getattr(h, "_sse_dash", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._sse_dash = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # this handler is the sse logger's output; no duplicates via root
    return handler


def ensure_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Give the ``sse`` logger an output when the application configured none.

    If the app set up logging (a root handler) or the ``sse`` logger has handlers, the
    lines go there untouched; otherwise INFO lines (cleanup results) would be lost."""
    if logging.getLogger().handlers or logging.getLogger(LOGGER_NAME).handlers:
        return
    configure_logging(fmt, level)
