"""The flush reads only the streams that marked a change (core.local_streams, core.stream_watch)."""

from __future__ import annotations

from core.local_streams import LocalStream, LocalStreams
from core.models import ConnectionRecord
from core.stream_watch import WatchedStream


class Watched(WatchedStream):
    __slots__ = ("reads",)

    def __init__(self) -> None:
        self._watch_init()
        self.reads = 0

    @property
    def progress(self) -> int:
        self.reads += 1
        return self.bytes_sent

    def sent(self, n: int) -> None:
        self.bytes_sent += n
        self.events_sent += 1
        self._changes.add(self._change_key)


class Polled:
    def __init__(self) -> None:
        self.events_sent = self.bytes_sent = 0
        self.reads = 0

    @property
    def progress(self) -> int:
        self.reads += 1
        return self.bytes_sent


def entry(cid: str, src: object) -> LocalStream:
    rec = ConnectionRecord(connection_id=cid, worker_id="w", host="h", pid=1, connected_at=1.0, last_activity=1.0)
    e = LocalStream.of(rec, None)
    e.activity = src  # type: ignore[assignment]
    return e


def test_a_flush_reads_the_changed_streams_and_every_polled_one():
    local = LocalStreams()
    watched = {f"w{i}": Watched() for i in range(100)}
    polled = Polled()
    for cid, src in watched.items():
        local.add(entry(cid, src))
    local.add(entry("p", polled))
    watched["w7"].sent(10)
    watched["w9"].sent(20)

    active: dict[str, float] = {}
    counts: dict[str, tuple[int, int]] = {}
    local.pull_activity(active, None, lambda: 5.0)  # a flush without counts
    assert active == {"w7": 5.0, "w9": 5.0}
    assert sum(s.reads for s in watched.values()) == 2 and polled.reads == 1
    assert not local.changed

    watched["w9"].sent(5)
    local.pull_activity(active, counts, lambda: 6.0)  # the counts flush: everything changed since the last one
    assert counts == {"w7": (1, 10), "w9": (2, 25)}
    assert active["w9"] == 6.0 and active["w7"] == 5.0
    counts.clear()
    local.pull_activity(active, counts, lambda: 7.0)  # nothing moved: nothing read but the polled source
    assert counts == {} and sum(s.reads for s in watched.values()) == 3 and polled.reads == 3


def test_the_stored_count_follows_the_table():
    local = LocalStreams()
    a, b = entry("a", Polled()), entry("b", Polled())
    local.add(a)
    local.add(b)
    local.mark_stored(a)
    local.mark_stored(a)  # once
    assert local.stored_count == 1
    local.mark_stored(b)
    assert local.pop("a") is a and local.stored_count == 1 and "a" not in local.polled
    local.clear()
    assert local.stored_count == 0 and not local.polled


def test_the_record_is_rebuilt_from_the_flat_fields():
    rec = ConnectionRecord(connection_id="c1", worker_id="w", host="h", pid=7, channel="ch", client_address="1.2.3.4:5",
                           user_agent="ua", connected_at=10.0, last_activity=11.0)
    assert LocalStream.of(rec, None).record == rec


def test_a_stream_that_does_not_count_events_is_unknown_not_zero():
    """Kernel counting without SSE_COUNT_EVENTS: events_sent is None; its bytes still reach
    the flush, its record says None, and the process's events total is unknown from then on."""
    local = LocalStreams()
    counted, uncounted = Watched(), Watched()
    uncounted.events_sent = None
    local.add(entry("c", counted))
    e = entry("u", uncounted)
    local.add(e)
    assert e.record.events_sent is None and e.record.events_sent_reason is not None
    counted.sent(10)
    uncounted.bytes_sent += 7
    uncounted._changes.add(uncounted._change_key)
    counts: dict[str, tuple[int, int]] = {}
    local.pull_activity({}, counts, lambda: 5.0)
    assert counts == {"c": (1, 10), "u": (0, 7)}
    assert local.pod_stats().events_sent is None and local.pod_stats().bytes_sent == 17
    local.ended(local.pop("u"), "client_gone")
    assert local.pod_stats().events_sent is None  # a total that missed a stream's events stays unknown
    only_counted = LocalStreams()
    only_counted.add(entry("c", counted))
    assert only_counted.pod_stats().events_sent == 1


async def test_the_removal_hook_hears_of_a_removed_stream_before_it_is_closed():
    """The manager's reconnect meter is told of every stream the fleet removed (one hook for
    the table, no closure per stream), then the stream is closed by its on_removed."""
    order: list[str] = []

    class Closable(Polled):
        def on_removed(self) -> None:
            order.append("closed")

    local = LocalStreams()
    local.on_removal = lambda e: order.append(f"removed {e.connection_id} {e.fields[4]}")
    rec = ConnectionRecord(connection_id="x", worker_id="w", host="h", pid=1, client_address="1.2.3.4:5",
                           connected_at=1.0, last_activity=1.0)
    e = LocalStream.of(rec, None)
    e.activity = Closable()  # type: ignore[assignment]
    local.add(e)
    assert await local.close(e) is True
    assert order == ["removed x 1.2.3.4:5", "closed"]
