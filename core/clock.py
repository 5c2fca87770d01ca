"""The fleet's clock: the store's clock as this process measures it, and ages asked at it.

Times written to the store are on the store's clock (Redis ``TIME``), so workers whose
clocks disagree still agree on every cutoff. The offset (store clock - local clock) is
measured at every flush, from the heartbeat's round trip (:meth:`StoreClock.measured`), or
on demand by observers, which do not flush (:meth:`StoreClock.measure`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .store.base import AgeQuery, StateStore, StoreUnavailable

if TYPE_CHECKING:
    from .config import SSEConfig

__all__ = ["Clock", "StoreClock", "age_query"]

Clock = Callable[[], float]
MAX_ROUND_TRIP = 0.5  # seconds: a slower answer says too little about when the store read its clock


class StoreClock:
    """``now()`` on the fleet's clock. ``follow_store`` False (a test's injected clock):
    the offset stays 0 and ``now()`` is the local clock."""

    def __init__(self, store: StateStore, local: Clock, *, follow_store: bool) -> None:
        self.store = store
        self.local = local
        self.follow_store = follow_store
        self.offset = 0.0  # store clock - local clock

    def now(self) -> float:
        """The fleet's clock: the store's (Redis TIME) as measured last."""
        return self.local() + self.offset

    async def measure(self) -> None:
        """Read the store's clock now (a store in trouble leaves the offset as it was)."""
        if not self.follow_store:
            return
        t0 = self.local()
        try:
            server = await self.store.server_time()
        except StoreUnavailable:
            return
        self.measured(t0, self.local(), server)

    def measured(self, t0: float, t1: float, server: float | None) -> None:
        """The store read its clock as ``server`` between local times ``t0`` and ``t1``."""
        if server is None or not self.follow_store or t1 - t0 > MAX_ROUND_TRIP:
            return
        self.offset = server - (t0 + t1) / 2.0


def age_query(cfg: SSEConfig, now: float, edges: tuple[float, ...] = ()) -> AgeQuery:
    """The age classes' thresholds at ``now`` (and the histogram's ``edges``), as the store asks them."""
    return AgeQuery(now=now, stale_threshold=cfg.STALE_CONNECTION_THRESHOLD_SECONDS,
                    long_lived=cfg.LONG_LIVED_SECONDS, very_old=cfg.VERY_OLD_SECONDS, edges=edges)
