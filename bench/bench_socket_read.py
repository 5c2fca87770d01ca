"""What one read of the socket table costs, in parts (issue 25: where the read's time goes).

    python -m bench.bench_socket_read --streams 2000 --reads 15

One process serves N loopback TCP connections (N accepted sockets, N client sockets), a
``WatchedStream`` for each found by ``watch_socket`` as a tracked stream finds its own;
before every read each connection carries one event's bytes to its client, so every
stream's kernel figures move. Timed (median of the reads, milliseconds): the socket
watch's whole read (``SocketWatch.read``: the table's dump, each stream's ``_take``, the
queue watch's ``observe``), its queue read between full reads (``read(full=False)``: the
same dump, only the connections with bytes waiting decoded; none here), ``SocketTable.scan`` with a callback that does nothing (the
netlink dump, the kernel's ``tcp_info`` for every connection and the decode), the queue
watch's ``observe`` alone, and the body a read publishes; and the kernel's part alone: the
same dump (``tcp_info`` asked for) with nothing decoded but each message's length, so that
``scan`` less it is the decode in Python. Linux only (sock_diag); needs a file descriptor
limit above 2N.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import sockets
from core.queues import QueueWatch, publish_body
from core.stream_watch import SocketWatch, WatchedStream


class _Stream(WatchedStream):
    __slots__ = ("connection_id", "__weakref__")

    def __init__(self, cid: str) -> None:
        self._watch_init()
        self.connection_id = cid


def _dump_only(port: int) -> int:
    """The table's dump for the connections on ``port`` (IPv4, ``tcp_info`` asked for, the
    bytecode filter ``SocketTable`` uses), walking the messages without decoding them."""
    n = 0
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, sockets._NETLINK_SOCK_DIAG) as nl:
        bc = sockets._port_filter([port])
        req = (struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 1 << (sockets._INET_DIAG_INFO - 1), 0,
                           sockets._STATES) + b"\0" * 48
               + sockets._ATTR.pack(4 + len(bc), sockets._INET_DIAG_REQ_BYTECODE) + bc)
        nl.send(sockets._HDR.pack(sockets._HDR.size + len(req), sockets._SOCK_DIAG_BY_FAMILY,
                                  sockets._NLM_F_REQUEST | sockets._NLM_F_DUMP, 1, 0) + req)
        while True:
            data = nl.recv(1 << 18)
            off = 0
            while off + 16 <= len(data):
                length, kind = sockets._HDR2.unpack_from(data, off)
                if kind == sockets._NLMSG_DONE or not data:
                    return n
                n += 1
                off += (length + 3) & ~3


class _Manager:
    """What the socket watch asks of its manager: the read interval and the queue watch."""

    socket_read_interval = 0.0

    def __init__(self) -> None:
        self.queues = QueueWatch(None, "bench", not_reading_seconds=lambda: 5.0,  # type: ignore[arg-type]
                                 read_interval=lambda: 2.5, fleet_now=time.time)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--reads", type=int, default=15)
    args = ap.parse_args()
    table = sockets.SocketTable()
    if not table.available:
        raise SystemExit("no socket table here (Linux sock_diag needed)")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    pairs: list[tuple[socket.socket, socket.socket]] = []
    streams: set[Any] = set()
    changes: set[str] = set()
    for i in range(args.streams):
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        pairs.append((client, server))
        s = _Stream(f"c{i}")
        s.watch_socket({"server": server.getsockname(), "client": server.getpeername()}, table, False)
        s.track_changes(changes, s.connection_id)
        streams.add(s)
    kernel = sum(1 for s in streams if s.counting == "kernel")
    manager = _Manager()
    watch = SocketWatch(streams, manager)  # type: ignore[arg-type]
    parts: dict[str, list[float]] = {"SocketWatch.read (all of it)": [],
                                     "SocketWatch.read, a queue read (nothing queued)": [],
                                     "SocketTable.scan, callback doing nothing": [],
                                     "QueueWatch.observe": [], "publish_body": [],
                                     "the dump alone (the kernel's part, nothing decoded)": []}

    def timed(name: str, fn: Any) -> None:
        t0 = time.perf_counter()
        fn()
        parts[name].append((time.perf_counter() - t0) * 1e3)

    for _ in range(args.reads):
        for client, server in pairs:
            server.send(b"data: x\n\n")
            client.recv(64)
        timed("SocketWatch.read (all of it)", watch.read)
        for client, server in pairs:
            server.send(b"data: y\n\n")
            client.recv(64)
        timed("SocketWatch.read, a queue read (nothing queued)", lambda: watch.read(full=False))
        wanted = {s._sock_key: s for s in streams}
        timed("SocketTable.scan, callback doing nothing", lambda: table.scan(wanted, lambda *a: None))
        q = manager.queues
        timed("QueueWatch.observe",
              lambda: q.observe(time.monotonic(), ((s.connection_id, s._acked, s._queued) for s in streams)))
        timed("publish_body", lambda: publish_body(q.view(), [], time.time(), len(streams)))
        timed("the dump alone (the kernel's part, nothing decoded)", lambda: _dump_only(port))
        changes.clear()
    print(f"python {sys.version.split()[0]}, {args.streams} loopback connections ({kernel} counted by the kernel), "
          f"{args.reads} reads; milliseconds a read, median (min):")
    for name, xs in parts.items():
        print(f"  {name:52s} {statistics.median(xs):7.2f}  ({min(xs):.2f})")
    for client, server in pairs:
        client.close()
        server.close()


if __name__ == "__main__":
    main()
