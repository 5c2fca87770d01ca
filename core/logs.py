"""Logging as a library does it, without going silent.

The application decides where lines go and how they look (its root handlers, gunicorn's
format, a JSON formatter, Sentry, OpenTelemetry, a log shipper): ``sse`` records
propagate to them untouched, even to handlers added after the manager started. No
handler is ever added to the root logger.

With nothing configured (the usual ``uvicorn app:app``: uvicorn gives handlers to its own
loggers, none to the root), Python would print warnings through ``logging.lastResort``,
but only if no handler at all is found, and a ``NullHandler`` on ``sse`` (the usual
library advice) counts as one: everything was silently dropped. So the ``sse`` logger
carries :class:`FallbackHandler` instead: it writes to stderr, in uvicorn's own format
(``WARNING:  SSE configuration validation warnings: ...``), only records that no other
handler on the way to the root would get; as soon as the app configures logging
(``logging.basicConfig``, dictConfig, gunicorn's ``logconfig_dict``, a handler on ``sse``)
it writes nothing. ``SSE_LOG_LEVEL`` (when set) is the ``sse`` logger's level (unset:
inherited, WARNING by default); ``SSE_LOG_FORMAT=json`` makes the fallback write JSON lines.

The messages are the guide's ("SSE cleanup completed: cleaned=...", "Periodic cleanup
cycle: ...", "SSE configuration validated successfully: ...", "SSE configuration
validation warnings: ...", "Error during periodic SSE cleanup"), unchanged for grep.
Their ``key=value`` pairs also travel as structured data: as record attributes
(``record.cleaned``) and all together in ``record.sse_fields``, so JSON formatters and
log shippers get them as fields:

- new calls pass them with ``extra=``: ``log.info("... cleaned=%d", n, extra=sse_extra(cleaned=n))``;
- for calls that do not (yet), :class:`StructuredFields` (a filter on the ``sse`` logger)
  takes each ``key=%d``-style argument from the call's own arguments, typed as passed.

Programs that own their process (``sse-demo``, ``sse-dash``, a plain script) may call
:func:`configure_logging` to give the ``sse`` logger an output of its own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import weakref
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["LOGGER_NAME", "sse_extra", "StructuredFields", "TextFormatter", "JsonFormatter", "configure_logging",
           "ensure_logging", "redact", "record_fields", "FallbackHandler", "UvicornStyleFormatter", "LEVELS"]

LOGGER_NAME = "sse"
FIELDS_ATTR = "sse_fields"
_PAIR = re.compile(r"(\w+)=([^,\s]+)")
# a %-conversion of a logging template, optionally preceded by "name="
_CONVERSION = re.compile(r"(?:(\w+)=)?%(?:\((\w+)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?([diouxXeEfFgGcrsa%])")
_SECRET = re.compile(r"(rediss?://)([^@/\s]*)@|(Bearer\s+)\S+", re.IGNORECASE)
# attributes a LogRecord already has (or that logging refuses in extra=)
_RESERVED = frozenset(vars(logging.LogRecord("x", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """Remove passwords from Redis URLs and bearer tokens from any text."""
    return _SECRET.sub(lambda m: (m.group(1) + "***@") if m.group(1) else (m.group(3) + "***"), text)


def sse_extra(**fields: Any) -> dict[str, Any]:
    """``extra=`` for a log call: each field becomes a record attribute (a name a LogRecord
    already uses gets an ``sse_`` prefix) and all of them ``record.sse_fields``."""
    extra: dict[str, Any] = {(f"sse_{k}" if k in _RESERVED else k): v for k, v in fields.items()}
    extra[FIELDS_ATTR] = dict(fields)
    return extra


def _value(raw: str) -> Any:
    """"12.5%" / "60s" / "5" -> numbers; anything else stays text."""
    for candidate in (raw, raw[:-1] if raw[-1:] in ("%", "s") else raw):
        for cast in (int, float):
            try:
                return cast(candidate)
            except ValueError:
                pass
    return raw


def _template_fields(record: logging.LogRecord) -> dict[str, Any] | None:
    """``key=%d`` pairs of the call's template, with the call's own (typed) arguments."""
    if not isinstance(record.msg, str) or not isinstance(record.args, tuple):
        return None
    fields: dict[str, Any] = {}
    index = 0
    for m in _CONVERSION.finditer(record.msg):
        if m.group(3) == "%":
            continue
        if index >= len(record.args):
            return None
        if m.group(1):
            fields[m.group(1)] = record.args[index]
        index += 1
    return fields


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record's structured fields: passed with ``extra=``, else the template's ``key=%x``
    arguments, else ``key=value`` pairs parsed from the message text."""
    given = getattr(record, FIELDS_ATTR, None)
    if isinstance(given, dict):
        return given
    fields = _template_fields(record)
    if fields:
        return fields
    return {k: _value(v) for k, v in _PAIR.findall(record.getMessage())}


class StructuredFields(logging.Filter):
    """Puts a record's fields on it as attributes (never drops a record, never overwrites
    an attribute). Installed on the ``sse`` logger at import, so every handler the app
    adds, whenever it adds it, sees ``record.cleaned`` and ``record.sse_fields``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(getattr(record, FIELDS_ATTR, None), dict):
            fields = record_fields(record)
            setattr(record, FIELDS_ATTR, fields)
            for key, value in fields.items():
                name = f"sse_{key}" if key in _RESERVED else key
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """``asctime level name: message`` with secrets redacted (sse-demo's and sse-dash's own output)."""

    def __init__(self, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, fields (the record's structured fields)."""

    def format(self, record: logging.LogRecord) -> str:
        message = redact(record.getMessage())
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        fields = {k: (redact(v) if isinstance(v, str) else v) for k, v in record_fields(record).items()}
        if fields:
            doc["fields"] = fields
        if record.exc_info:
            doc["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, separators=(",", ":"), default=str)


class UvicornStyleFormatter(logging.Formatter):
    """uvicorn's default line (``INFO:     message``) with secrets redacted, so the library's
    lines read like the server's beside them."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname}:".ljust(9)
        text = f"{prefix} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redact(text)


def _handled_elsewhere(logger: logging.Logger, me: logging.Handler) -> bool:
    """True when a record of ``logger`` reaches a handler other than ``me`` (and NullHandlers)."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(h is not me and not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


class FallbackHandler(logging.Handler):
    """Python's ``lastResort``, for the ``sse`` logger: writes a record to stderr (the one
    of the moment, as ``lastResort`` does) only when no other handler would get it."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if _handled_elsewhere(logger, self):
            return
        try:
            fmt = JsonFormatter() if os.environ.get("SSE_LOG_FORMAT", "").lower() == "json" else UvicornStyleFormatter()
            sys.stderr.write(fmt.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never raise into the app
            self.handleError(record)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_OWN_HANDLERS: weakref.WeakSet[logging.Handler] = weakref.WeakSet()  # attached by configure_logging


def _install() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        if type(h) is logging.NullHandler:  # an older version's: it would hide the fallback
            logger.removeHandler(h)
    if not any(isinstance(h, FallbackHandler) for h in logger.handlers):
        logger.addHandler(FallbackHandler())
    if not any(isinstance(f, StructuredFields) for f in logger.filters):
        logger.addFilter(StructuredFields())
    level = os.environ.get("SSE_LOG_LEVEL", "").strip().upper()
    if level in LEVELS:  # a bad value is the configuration's error to report
        logger.setLevel(level)


def ensure_logging() -> None:
    """The library's whole logging setup: :class:`FallbackHandler` on ``sse`` (prints only
    while the app configured nothing), ``SSE_LOG_LEVEL`` when set, and the
    :class:`StructuredFields` filter. Idempotent."""
    _install()


def configure_logging(fmt: str = "text", level: str = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """For programs that own their process (sse-demo, sse-dash, scripts), never called by
    the library: one stream handler on the ``sse`` logger (replacing one this function
    attached before), its level, and ``propagate=False`` so a root handler the program
    also set up does not print the lines twice."""
    _install()
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        if h in _OWN_HANDLERS:
            logger.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    _OWN_HANDLERS.add(handler)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler


_install()
