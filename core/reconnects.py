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
``SSE_CONNECT_RATE_WINDOW_SECONDS`` into the ``/monitoring`` figures once the fleet has
watched a whole window (:func:`rate_unknown_reason`: before that the rate is unknown, null
with ``connect_rate_reason``, never the 0 of a window nobody counted); the
``reconnect_storm`` warning (core.health) compares reconnects per second with
``SSE_WARN_RECONNECTS_PER_SECOND``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence

from .loops import cancel
from .models import ConnectRate
from .store.base import StateStore, StoreUnavailable

__all__ = ["ConnectMeter", "client_key", "connect_rate", "counting_since", "connect_rate_reason", "rate_unknown_reason"]

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


def counting_since(started_at: Iterable[float | None]) -> float | None:
    """Since when the fleet has counted its connects: the start of its oldest worker (a
    worker notes its connects from its start; the counts of a fleet that stopped and came
    back say nothing of the gap). None: no worker, nobody counts."""
    known = [t for t in started_at if t is not None]
    return min(known) if known else None


def rate_window_end(now: float, settle: float) -> int:
    """The end of the last second whose counts are all in the store: a connect reaches the
    store at its worker's next flush (``settle``: the flush interval), so the current second
    and those still on their way are left out."""
    return int(now - settle)


def rate_unknown_reason(since: float | None, now: float, window: float, settle: float = 0.0) -> str | None:
    """Why the fleet's connect rate over ``window`` is unknown at ``now`` (None: known): no
    worker counts, or the fleet has not yet counted a whole window (a worker that just started
    alone; the counts it sent are not a rate yet: unknown, not 0)."""
    if since is None:
        return "no worker counts connects"
    end = rate_window_end(now, settle)
    start = end - int(window)
    if since > start:  # the window's first second (or more) was not watched
        # whole seconds, rounded down: 9.6 of 10 is "9 s of 10 s", never a "10 s of 10 s"
        # that reads complete beside "unknown"
        observed = int(max(0.0, end - since))
        return f"warming up: {observed} s of {int(window)} s counted"
    return None


def connect_rate(counts: Sequence[tuple[int, int, int]], now: float, window: float, settle: float = 0.0) -> ConnectRate:
    """The figures of the ``window`` seconds before ``now`` from per-second counts
    ``(second, connects, reconnects)``; the current second, still filling, is left out, and
    those whose counts may still be on their way (``settle`` seconds, :func:`rate_window_end`).
    Whether the fleet counted that whole window is :func:`rate_unknown_reason`'s question."""
    end = rate_window_end(now, settle)
    start = end - int(window)
    c = sum(n for s, n, _ in counts if start <= s < end)
    r = sum(m for s, _, m in counts if start <= s < end)
    span = max(end - start, 1)
    return ConnectRate(window_seconds=float(span), connects=c, reconnects=r, per_second=round(c / span, 2),
                       reconnects_per_second=round(r / span, 2),
                       reconnect_share_percent=round(100.0 * r / c, 1) if c else None)


STORE_UNAVAILABLE = "state store unavailable"


def connect_rate_reason(rate: ConnectRate | None, unknown_reason: str | None, store_ok: bool) -> str | None:
    """``/monitoring``'s ``connect_rate_reason``: why ``connect_rate`` is null (None: it is not)."""
    if not store_ok:
        return STORE_UNAVAILABLE
    if rate is None:
        return unknown_reason or "not measured here"
    return None
