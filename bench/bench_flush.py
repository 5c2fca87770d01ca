"""The once-a-second flush in proportion to activity: ``python -m bench.bench_flush``.

A real ``ConnectionManager`` (memory store: the flush's own Python, no network) holding N
and then 10N registered streams, of which a fixed number (``--active``, default 100) sent
something since the last flush. Timed: ``manager.flush_touches()`` (the writer task's
periodic flush; ``counters=True``, the flush that also takes per-connection counts),
median of ``--repeats`` (the cyclic collector held off while timing: a collection that
lands in a flush walks every object of the process and would be timed instead).

* **watched**: sources that mark their changes (``core.stream_watch.WatchedStream``, what
  tracked streams are): the flush walks the changed ones only.
* **polled** (baseline, in the same run): the same sources without ``track_changes``, read
  at every flush as every stream was before issue 25.

Also timed apart: the walk (``LocalStreams.pull_activity``, the pass over the streams).
The figure is the ratio of the flush's cost at 10N to its cost at N: 1.0 means the cost
follows activity, 10 means it follows the number of open streams. The socket watch's
read of the kernel's table (all streams at once, every half activity resolution: 15 s at
the defaults) is not in these flushes; ``--table`` times it apart.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from core.config import load_config
from core.manager import ConnectionManager
from core.provider import make_store
from core.stream_watch import WatchedStream


class Watched(WatchedStream):
    __slots__ = ()

    def __init__(self) -> None:
        self._watch_init()

    def sent(self, n: int) -> None:  # what the send wrapper / the socket watch do when a stream moves
        self.bytes_sent += n
        self.events_sent += 1
        self._changes.add(self._change_key)


class Polled:
    """An ActivitySource that cannot mark its changes (read at every flush)."""

    __slots__ = ("events_sent", "bytes_sent")

    def __init__(self) -> None:
        self.events_sent = self.bytes_sent = 0

    @property
    def progress(self) -> int:
        return self.bytes_sent

    def sent(self, n: int) -> None:
        self.bytes_sent += n
        self.events_sent += 1


async def flush_cost(kind: str, n: int, active: int, repeats: int) -> tuple[float, float]:
    cfg = load_config(TOUCH_FLUSH_INTERVAL_SECONDS=3600, PERIODIC_CLEANUP_ENABLED=False, HISTORY_ENABLED=False,
                      LOG_LEVEL="WARNING")
    manager = ConnectionManager(make_store(cfg), cfg)
    await manager.start()
    try:
        sources = [Watched() if kind == "watched" else Polled() for _ in range(n)]
        for i in range(0, n, 1000):
            await asyncio.gather(*(manager.register(activity=s) for s in sources[i:i + 1000]))  # type: ignore[arg-type]
        await manager.flush_touches()
        times, walks = [], []
        local = manager.registry.local
        pull = local.pull_activity

        def timed_pull(active: dict[str, float], counts: dict[str, tuple[int, int]] | None, now: object) -> None:
            t = time.perf_counter()
            pull(active, counts, now)  # type: ignore[arg-type]
            walks.append(time.perf_counter() - t)
        local.pull_activity = timed_pull  # type: ignore[method-assign]
        gc.collect()
        gc.disable()  # a collection landing in one flush would time the collector (it walks every object), not the flush
        try:
            for r in range(repeats):
                for s in sources[(r * active) % n:(r * active) % n + active]:
                    s.sent(100)
                t0 = time.perf_counter()
                await manager.flush_touches()
                times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
        return statistics.median(times), statistics.median(walks)
    finally:
        await manager.stop()


def table_cost(n: int) -> float | None:
    """One read of the socket table for n loopback connections (the socket watch's read)."""
    import socket

    from core import sockets
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    port = srv.getsockname()[1]
    pairs = []
    try:
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", port))
            a, addr = srv.accept()
            pairs += [c, a]
        keys = {k for a in pairs[1::2] for k in sockets.keys_for(("127.0.0.1", port), a.getpeername()[:2])}
        table = sockets.SocketTable()
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            got = table.read(keys)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) if len(got) == n else None
    finally:
        for s in pairs:
            s.close()
        srv.close()


async def main_async(args: argparse.Namespace) -> None:
    n, active = args.n, args.active
    print(f"# bench_flush: N={n:,} and 10N={10 * n:,} registered streams, {active} active per flush, "
          f"median of {args.repeats} flushes (memory store)")
    rows = []
    for kind in ("watched", "polled"):
        for act, label in ((0, ", all idle"), (active, f", {active} active")):
            small = await flush_cost(kind, n, act, args.repeats)
            big = await flush_cost(kind, 10 * n, act, args.repeats)
            rows.append((kind + label, small, big))
    print(f"{'sources':24}{'flush N':>12}{'10N':>12}{'10N / N':>9}   {'walk N':>10}{'10N':>12}{'10N / N':>9}")
    for kind, (a, wa), (b, wb) in rows:
        print(f"{kind:24}{a * 1e3:>10.3f}ms{b * 1e3:>10.3f}ms{b / a:>9.2f}   {wa * 1e3:>8.3f}ms{wb * 1e3:>10.3f}ms"
              f"{wb / wa:>9.2f}")
    print("(walk: LocalStreams.pull_activity, the pass over the streams; the rest of a flush is the store's "
          "touches and heartbeat: the memory store inserts each touch into sorted lists, O(N) per touch)")
    if args.table:
        for m in (args.table, 10 * args.table):
            t = table_cost(m)
            print(f"socket table read, {m:,} connections: " + (f"{t * 1e3:.2f} ms" if t is not None else "not available"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--active", type=int, default=100)
    p.add_argument("--repeats", type=int, default=31)
    p.add_argument("--table", type=int, default=0, help="also time the socket table read at this many and 10x connections")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
