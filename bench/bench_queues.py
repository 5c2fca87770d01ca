"""What the early frozen signal costs (issue 27): ``nice -n 5 python -m bench.bench_queues``.

The socket table used to be read every half activity resolution (15 s at the defaults);
to flag a client that stops reading within ``SSE_NOT_READING_SECONDS`` (5 s) it is now
read every 2.5 s. This measures, with ``--streams`` real loopback TCP connections held in
this process (both ends), one read of the table (``SocketTable.read``, one netlink dump
per family), one ``QueueWatch.observe`` of every stream and the published body
(``publish_body``), then the CPU per second of a worker at the defaults before and after
(reads per second x CPU per read, user + system: `time.process_time`), as a ratio
measured in the same run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time

from core import sockets
from core.queues import QueueWatch, publish_body


def pairs(n: int) -> tuple[socket.socket, list[tuple[socket.socket, socket.socket]]]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    out = []
    for _ in range(n):
        c = socket.create_connection(srv.getsockname())
        s, _ = srv.accept()
        out.append((s, c))
    return srv, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    srv, conns = pairs(args.streams)
    try:
        port = srv.getsockname()[1]
        keys = [sockets.keys_for(("127.0.0.1", port), c.getsockname()) for _, c in conns]
        wanted = {k for ks in keys for k in ks}
        table = sockets.SocketTable()
        watch = QueueWatch(None, "bench", not_reading_seconds=lambda: 5.0,  # type: ignore[arg-type]
                           read_interval=lambda: 2.5, fleet_now=time.time)
        reads, observes, bodies = [], [], []
        for i in range(args.rounds):
            t0 = time.process_time()
            got = table.read(wanted)
            t1 = time.process_time()
            states = []
            for j, ks in enumerate(keys):
                st = next((got[k] for k in ks if k in got), None)
                states.append((f"c-{j}", None if st is None else st.bytes_acked, 0 if st is None else st.queued))
            t2 = time.process_time()
            watch.observe(float(i), states)
            body = publish_body(watch.view(), [], time.time(), len(states))
            t3 = time.process_time()
            reads.append(t1 - t0)
            observes.append(t3 - t2)
            bodies.append(len(body))
        assert table.available, "the socket table cannot be read here (not Linux, no sock_diag)"
        per_read = statistics.median(reads) + statistics.median(observes)
        before, after = 1 / 15.0, 1 / 2.5  # reads per second at the defaults
        print(f"streams {args.streams}, rounds {args.rounds}")
        print(f"table read       median {statistics.median(reads) * 1e3:.2f} ms")
        print(f"observe+publish  median {statistics.median(observes) * 1e3:.2f} ms (body {statistics.median(bodies):.0f} B)")
        print(f"CPU per second   before {per_read * before * 1e3:.3f} ms/s, after {per_read * after * 1e3:.3f} ms/s "
              f"(x{after / before:.0f}; {per_read * after * 100:.3f}% of one core)")
    finally:
        for s, c in conns:
            s.close()
            c.close()
        srv.close()


if __name__ == "__main__":
    main()
