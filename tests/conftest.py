"""Shared fixtures: one real redis-server per test session (on a free port)."""

from __future__ import annotations

import itertools
import shutil

import pytest

from tests.redis_server import RedisServer
from tests.service.sse_compat import fresh_sse_starlette_state  # noqa: F401 - autouse: sse-starlette 2.x's global event

_ns = itertools.count()


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, to pause, stop, restart or fill without touching
    other tests; left running (resumed if paused) until the test ends, then removed."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.resume()  # a test that paused it and failed: SIGCONT first, or stop() waits
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory):
    """A three-master Redis Cluster the suite creates itself (redis-cli --cluster create)."""
    from tests.redis_cluster import start_redis_cluster

    with start_redis_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster.url


@pytest.fixture
def redis_url(redis_server) -> str:
    """URL of the session's redis-server; restarted first if a fault test left it stopped."""
    if redis_server.proc is None:
        redis_server.start()
    return redis_server.url


@pytest.fixture
def namespace(request) -> str:
    """A namespace of its own for every test, so tests never see each other's keys."""
    return f"t{next(_ns)}-{request.node.name[:40].replace('[', '-').replace(']', '')}"
