"""What this process knows of its state store right now: up, connecting, unreachable or
refusing writes, since when, and which stored data it found malformed.

Every part of the manager that talks to the store reports here (``mark_ok`` after a good
call, ``mark_unavailable`` after a failed one, ``note_bad_data`` after a read); the
manager publishes :attr:`StoreStatusTracker.status` as ``store_status``. Parts that must
act on trouble (the registry resyncs after it) listen with :meth:`on_trouble`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .models import StoreState, StoreStatus
from .store.base import StateStore, StoreUnavailable

__all__ = ["StoreStatusTracker", "explain"]

log = logging.getLogger("sse")

MAX_BAD_SHOWN = 50  # malformed keys listed in the status
MAX_BAD_LOGGED = 1000  # distinct malformed keys logged (each once) per process


class StoreStatusTracker:
    """The store's status as this process saw it last. ``clock``: the local clock (the
    status's ``since`` / ``last_ok`` are this process's times)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.connected = False  # the store answered once: trouble reads "unreachable", before it "connecting"
        self.status = StoreStatus(state="connecting", since=clock())
        self.bad_data: tuple[str, ...] = ()
        self._bad_by_source: dict[str, tuple[str, ...]] = {}
        self._reported_bad: set[str] = set()
        self._trouble_listeners: list[Callable[[], None]] = []
        self._recovery_listeners: list[Callable[[float, float, str], None]] = []
        self.last_error: Exception | None = None  # the last failure (its cause: listeners may act on it)

    @property
    def ok(self) -> bool:
        return self.status.state == "up"

    def on_trouble(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` at every failed store call (:meth:`mark_unavailable`)."""
        self._trouble_listeners.append(listener)

    def on_recovery(self, listener: Callable[[float, float, str], None]) -> None:
        """Call ``listener(since, until, reason)`` (local clock) when the store is up again
        after an outage (not after the first connect)."""
        self._recovery_listeners.append(listener)

    def mark_unavailable(self, exc: Exception) -> None:
        self.last_error = exc
        problem = exc.state if isinstance(exc, StoreUnavailable) else "unreachable"
        state: StoreState = ("refusing_writes" if problem == "refusing_writes"
                             else "error" if problem == "error" and self.connected
                             else "unreachable" if self.connected else "connecting")
        reason = str(exc)
        st = self.status
        if st.state != state or st.reason != reason:
            if st.state == "up":
                log.warning("SSE state store unavailable: %s", reason)
            self.status = StoreStatus(state=state, reason=reason, since=self.clock() if st.state == "up"
                                      or st.since is None else st.since,
                                      last_ok=st.last_ok, bad_data=list(self.bad_data))
        for listener in self._trouble_listeners:
            listener()

    def note(self, message: str) -> None:
        """Say something about a store that is up (e.g. what this process cannot check): the
        status's reason while it is up, logged once."""
        if self.status.state == "up" and self.status.reason != message:
            if message not in self._reported_bad:
                self._reported_bad.add(message)
                log.warning("SSE state store: %s", message)
            self.status = self.status.model_copy(update={"reason": message})

    def mark_ok(self) -> None:
        now = self.clock()
        st = self.status
        if st.state != "up":
            if st.state != "connecting":
                log.warning("SSE state store available again after %.1fs", now - (st.since or now))
            self.status = StoreStatus(state="up", since=now, last_ok=now, bad_data=list(self.bad_data))
            if st.state != "connecting" and st.since is not None:
                for listener in self._recovery_listeners:
                    listener(st.since, now, st.reason or st.state)
        else:
            self.status = st.model_copy(update={"last_ok": now})

    def note_bad_data(self, bad: tuple[str, ...], source: str = "fleet") -> None:
        """Remember what the last read of ``source`` (fleet counters, connection records)
        found malformed; each key is logged once."""
        self._bad_by_source[source] = bad
        self.bad_data = tuple(dict.fromkeys(b for v in self._bad_by_source.values() for b in v))[:MAX_BAD_SHOWN]
        for b in bad:
            if b not in self._reported_bad and len(self._reported_bad) < MAX_BAD_LOGGED:
                self._reported_bad.add(b)
                log.warning("SSE state store holds bad data (skipped): %s", b)
        if list(self.bad_data) != self.status.bad_data:
            self.status = self.status.model_copy(update={"bad_data": list(self.bad_data)})

    def bad_from(self, source: str) -> tuple[str, ...]:
        """What the last read of ``source`` found malformed."""
        return self._bad_by_source.get(source, ())


async def explain(store: StateStore, exc: StoreUnavailable) -> StoreUnavailable:
    """The failure with its cause named: for a wrong type, which key holds what (the error
    Redis gives names no key)."""
    if "wrong type" not in str(exc):
        return exc
    try:
        keys = await store.diagnose()
    except StoreUnavailable:
        keys = []
    return StoreUnavailable(f"redis wrong type at {'; '.join(keys[:3])}", exc.state) if keys else exc
