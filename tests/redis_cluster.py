"""A throwaway three-master Redis Cluster on loopback ports, for tests.

Plain functions and a context manager (no pytest fixtures here)::

    with start_redis_cluster(tmp_path) as cluster:
        client = RedisCluster.from_url(cluster.url)
        ...
    # every redis-server is terminated and reaped here, even if the body raised

Each node is ``redis-server --cluster-enabled yes --port P ... --daemonize no``
started with ``subprocess.Popen``; the cluster is formed with
``redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes``. Every
wait polls a condition against a deadline -- there are no fixed sleeps.
"""

from __future__ import annotations

import atexit
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

HOST = "127.0.0.1"
# Redis Cluster listens on P and on the cluster bus P+10000; pick P below the
# ephemeral range so P+10000 still fits, and check both are free.
_PORT_RANGE = (20000, 29999)
_BUS_OFFSET = 10000


class RedisClusterError(RuntimeError):
    """The cluster could not be started."""


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``predicate`` until it returns a truthy value; raise TimeoutError at the deadline.

    Exceptions of type ``OSError`` (connection refused, reset...) count as "not yet";
    any other exception propagates at once.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except OSError as exc:
            last = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last!r})" if last else ""
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _pick_port(taken: set[int]) -> int:
    for _ in range(1000):
        port = random.randint(*_PORT_RANGE)
        if port in taken or port + _BUS_OFFSET in taken:
            continue
        if _port_is_free(port) and _port_is_free(port + _BUS_OFFSET):
            return port
    raise RedisClusterError(f"no free port pair (P, P+{_BUS_OFFSET}) found in {_PORT_RANGE}")


def command(port: int, *args: str, timeout: float = 2.0) -> str:
    """Send one command to ``HOST:port`` over RESP and return the reply as text.

    Handles simple strings, errors (raised as RedisClusterError), integers and bulk strings.
    """
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload.encode())
        reader = sock.makefile("rb")
        head = reader.readline()
        if not head:
            raise ConnectionResetError(f"no reply from {HOST}:{port}")
        kind, rest = head[:1], head[1:].rstrip(b"\r\n").decode()
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RedisClusterError(f"{HOST}:{port} {' '.join(args)}: {rest}")
        if kind == b"$":
            size = int(rest)
            return "" if size < 0 else reader.read(size + 2)[:-2].decode()
        raise RedisClusterError(f"unexpected reply {head!r} from {HOST}:{port}")


def cluster_info(port: int) -> dict[str, str]:
    """``CLUSTER INFO`` of one node as a dict."""
    text = command(port, "CLUSTER", "INFO")
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


@dataclass
class ClusterNode:
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def log_tail(self, lines: int = 20) -> str:
        try:
            self.log.flush()
            text = (self.directory / "redis.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ClusterHandle:
    """A running cluster. ``stop()`` (or leaving the ``with`` block) terminates every node."""

    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.ports[0]}"

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [node.process for node in self.nodes]

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate and reap every node (kill if SIGTERM is not enough). Safe to call twice."""
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            try:
                node.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
            node.log.close()
        atexit.unregister(self.stop)

    def __enter__(self) -> "ClusterHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _start_node(binary: str, root: Path, taken: set[int]) -> ClusterNode:
    port = _pick_port(taken)
    directory = root / f"node-{port}"
    directory.mkdir(parents=True, exist_ok=True)
    log = open(directory / "redis.log", "wb")
    args = [
        binary,
        "--cluster-enabled", "yes",
        "--port", str(port),
        "--bind", HOST,
        "--cluster-config-file", str(directory / "nodes.conf"),
        "--cluster-node-timeout", "5000",
        "--dir", str(directory),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    taken.update((port, port + _BUS_OFFSET))
    return ClusterNode(port=port, directory=directory, process=process, log=log)


def _answers_ping(node: ClusterNode) -> bool:
    if node.process.poll() is not None:
        # Not an OSError: stop waiting at once, the caller may retry on another port.
        raise RedisClusterError(f"redis-server on port {node.port} exited with {node.process.returncode}:\n{node.log_tail()}")
    return command(node.port, "PING") == "PONG"


def start_redis_cluster(tmp_dir: str | Path, *, nodes: int = 3, timeout: float = 30.0) -> ClusterHandle:
    """Start ``nodes`` cluster-enabled redis-servers, join them into one cluster, wait until it is ok.

    Returns a ClusterHandle (also a context manager). On any failure every process
    started so far is stopped before the exception propagates.
    """
    server = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if server is None or cli is None:
        raise RedisClusterError("redis-server and redis-cli are required (Debian: apt-get install -y redis-server)")
    root = Path(tmp_dir)
    handle = ClusterHandle()
    atexit.register(handle.stop)  # last resort if the interpreter exits without stop()
    taken: set[int] = set()
    try:
        for _ in range(nodes):
            for attempt in range(5):  # a port picked as free can be grabbed before redis binds it
                node = _start_node(server, root, taken)
                handle.nodes.append(node)
                try:
                    wait_for(lambda: _answers_ping(node), timeout=timeout, what=f"PING on port {node.port}")
                    break
                except RedisClusterError:
                    handle.nodes.remove(node)
                    ClusterHandle([node]).stop()
                    if attempt == 4:
                        raise

        addresses = [f"{HOST}:{port}" for port in handle.ports]
        created = subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )
        if created.returncode != 0 or "All 16384 slots covered" not in created.stdout:
            raise RedisClusterError(f"redis-cli --cluster create failed ({created.returncode}):\n{created.stdout}\n{created.stderr}")

        def all_ok() -> bool:
            for port in handle.ports:
                info = cluster_info(port)
                if (info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384"
                        or info.get("cluster_known_nodes") != str(nodes)):
                    return False
            return True

        wait_for(all_ok, timeout=timeout, what="cluster_state:ok on every node")
        return handle
    except BaseException:
        handle.stop()
        raise
