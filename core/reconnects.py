"""The reconnect-storm meter (issue 27): connects per second for the fleet, and the share
that are reconnects.

Browsers' ``EventSource`` reconnects by itself: a restart of a worker with 10,000 streams
is 10,000 connects within seconds. A connect is a *reconnect* when the client says so (a
``Last-Event-ID`` header: it had a stream and resumes it) or when the same client (its
address without the port, and its user agent) had a stream closed or cut within
``SSE_RECONNECT_WINDOW_SECONDS`` anywhere in the fleet.

Each worker's :class:`ConnectMeter` notes its connects and closes as they happen (a dict
append, nothing else) and sends them at its next flush, in two round trips for all of
them (:meth:`StateStore.record_connects`): the closes join the fleet's recently-closed set
(``{ns}:cuts``, a sorted set of client keys by time, trimmed to the window), the connects
are judged against it and counted per second of the fleet clock (``{ns}:connects:<minute>``,
expiring). :func:`connect_rate` turns the counts of the last
``SSE_CONNECT_RATE_WINDOW_SECONDS`` into the ``/monitoring`` figures; the
``reconnect_storm`` warning (core.health) compares reconnects per second with
``SSE_WARN_RECONNECTS_PER_SECOND``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence

from .loops import cancel
from .models import ConnectRate
from .store.base import StateStore, StoreUnavailable

__all__ = ["ConnectMeter", "client_key", "connect_rate"]

log = logging.getLogger("sse")

MAX_PENDING = 100_000  # connects / closes held for the next flush (beyond: dropped, and counted as such)


def client_key(client_address: str, user_agent: str) -> str:
    """A client across reconnects: its address without the port, and its user agent (hashed:
    the set holds no address)."""
    host = client_address.rsplit(":", 1)[0] if ":" in client_address else client_address
    return hashlib.sha1(f"{host}\n{user_agent}".encode(), usedforsecurity=False).hexdigest()[:16]


class ConnectMeter:
    """This worker's connects and closes since its last flush (``now``: the fleet clock)."""

    def __init__(self, store: StateStore, *, now: Callable[[], float], window: Callable[[], float],
                 arrivals_kept: Callable[[], float] | None = None) -> None:
        """``arrivals_kept``: how long the fleet keeps the connects for blast radius (core.blast;
        None: not sent)."""
        self.store = store
        self.now = now
        self.window = window
        self.arrivals_kept = arrivals_kept
        self._connects: list[tuple[str, float, bool]] = []
        self._arrivals: list[tuple[str, float]] = []  # the connects again, for blast radius (sent on their own)
        self._closes: list[tuple[str, float]] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # notes lost (the store away long enough for MAX_PENDING to fill)

    def connected(self, client_address: str, user_agent: str, resumed: bool) -> None:
        if len(self._connects) < MAX_PENDING:
            key, t = client_key(client_address, user_agent), self.now()
            self._connects.append((key, t, resumed))
            if self.arrivals_kept is not None and len(self._arrivals) < MAX_PENDING:
                self._arrivals.append((key, t))
        else:
            self.dropped += 1

    def closed(self, client_address: str, user_agent: str) -> None:
        if len(self._closes) < MAX_PENDING:
            self._closes.append((client_key(client_address, user_agent), self.now()))
        else:
            self.dropped += 1

    def after_flush(self) -> None:
        """A flush hook: send what was noted, in a task of its own (a slow store never holds the flush)."""
        if (self._connects or self._closes or self._arrivals) and (self._task is None or self._task.done()):
            try:
                self._task = asyncio.get_running_loop().create_task(self._send(), name="sse-connects")
            except RuntimeError:
                self._task = None

    async def _send(self) -> None:
        await self.send()

    async def send(self) -> int:
        """Send the notes now; returns the reconnects among the connects sent. Kept for the
        next flush when the store is away."""
        await self._send_arrivals()
        connects, closes = self._connects, self._closes
        if not connects and not closes:
            return 0
        self._connects, self._closes = [], []
        try:
            return await self.store.record_connects(closes, connects, self.window(), self.now())
        except StoreUnavailable:
            self._connects, self._closes = connects + self._connects, closes + self._closes
            return 0

    async def _send_arrivals(self) -> None:
        arrivals = self._arrivals
        if not arrivals or self.arrivals_kept is None:
            return
        self._arrivals = []
        try:
            await self.store.note_arrivals(arrivals, self.arrivals_kept(), self.now())
        except StoreUnavailable:
            self._arrivals = arrivals + self._arrivals

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        try:
            await self.send()  # a worker that stops: its closes tell the fleet its clients will come back
        except Exception:
            log.debug("SSE connect notes not sent at stop", exc_info=True)


def connect_rate(counts: Sequence[tuple[int, int, int]], now: float, window: float) -> ConnectRate:
    """The figures of the ``window`` seconds before ``now`` from per-second counts
    ``(second, connects, reconnects)``; the current second, still filling, is left out."""
    end = int(now)
    start = end - int(window)
    c = sum(n for s, n, _ in counts if start <= s < end)
    r = sum(m for s, _, m in counts if start <= s < end)
    span = max(end - start, 1)
    return ConnectRate(window_seconds=float(span), connects=c, reconnects=r, per_second=round(c / span, 2),
                       reconnects_per_second=round(r / span, 2),
                       reconnect_share_percent=round(100.0 * r / c, 1) if c else None)
