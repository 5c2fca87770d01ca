"""tests/redis_cluster.py really gives a working three-master cluster, and always cleans up."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.cluster import key_slot
from redis.exceptions import MovedError, RedisClusterException

from tests.redis_cluster import ClusterHandle, cluster_info, command, start_redis_cluster

if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
    if os.environ.get("CI"):
        raise RuntimeError("redis-server / redis-cli missing in CI: .ci/run must `apt-get install -y redis-server`")
    pytest.skip("redis-server / redis-cli not installed (Debian: apt-get install -y redis-server)", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHandle]:
    # The with-block stops every node at teardown, whatever the tests did.
    with start_redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as handle:
        yield handle


def _slot_owners(port: int) -> dict[int, int]:
    """slot -> owning node port, parsed from CLUSTER NODES."""
    owners: dict[int, int] = {}
    for line in command(port, "CLUSTER", "NODES").splitlines():
        fields = line.split()
        node_port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
        for spec in fields[8:]:
            if spec.startswith("["):
                continue  # migrating/importing marker
            lo, _, hi = spec.partition("-")
            for slot in range(int(lo), int(hi or lo) + 1):
                owners[slot] = node_port
    return owners


def _refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False


def test_three_masters_share_all_slots(cluster: ClusterHandle) -> None:
    assert len(cluster.ports) == 3 and len(set(cluster.ports)) == 3
    assert cluster.url == f"redis://127.0.0.1:{cluster.ports[0]}"
    for port in cluster.ports:
        info = cluster_info(port)
        assert info["cluster_state"] == "ok"
        assert info["cluster_slots_assigned"] == "16384"
        assert info["cluster_known_nodes"] == "3"
        assert info["cluster_size"] == "3"
    owners = _slot_owners(cluster.ports[0])
    assert len(owners) == 16384
    assert set(owners.values()) == set(cluster.ports)


async def test_keys_on_different_slots_and_nodes(cluster: ClusterHandle) -> None:
    owners = _slot_owners(cluster.ports[0])
    # one key per node
    keys: dict[int, str] = {}
    for i in range(10_000):
        key = f"sse:conn:{i}"
        keys.setdefault(owners[key_slot(key.encode())], key)
        if len(keys) == 3:
            break
    assert set(keys) == set(cluster.ports)

    client = RedisCluster.from_url(cluster.url)
    try:
        for port, key in keys.items():
            assert await client.set(key, f"value-on-{port}")
        for port, key in keys.items():
            assert await client.get(key) == f"value-on-{port}".encode()
        assert len({key_slot(k.encode()) for k in keys.values()}) == 3
    finally:
        await client.aclose()

    # The data really lives on the owning node; the others answer MOVED.
    for port, key in keys.items():
        direct = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            assert await direct.get(key) == f"value-on-{port}".encode()
        finally:
            await direct.aclose()
        other = next(p for p in cluster.ports if p != port)
        direct = aioredis.Redis(host="127.0.0.1", port=other)
        try:
            with pytest.raises(MovedError, match=f"{key_slot(key.encode())} 127.0.0.1:{port}$"):
                await direct.get(key)
        finally:
            await direct.aclose()


async def test_hash_tag_keeps_keys_on_one_slot(cluster: ClusterHandle) -> None:
    assert key_slot(b"{sse}:x") == key_slot(b"{sse}:y") == key_slot(b"sse")
    client = RedisCluster.from_url(cluster.url)
    try:
        assert await client.set("{sse}:x", "1")
        assert await client.get("{sse}:x") == b"1"
        # multi-key commands work on one hash tag ...
        assert await client.mset({"{sse}:x": "2", "{sse}:y": "3"})
        assert await client.mget("{sse}:x", "{sse}:y") == [b"2", b"3"]
        assert await client.eval("return redis.call('INCR', KEYS[1]) + redis.call('INCR', KEYS[2])", 2,
                                 "{sse}:x", "{sse}:y") == 7
        # ... and are refused across slots
        assert key_slot(b"no-tag:x") != key_slot(b"no-tag:y")
        with pytest.raises(RedisClusterException, match="same key slot|CROSSSLOT"):
            await client.mset({"no-tag:x": "1", "no-tag:y": "2"})
    finally:
        await client.aclose()


def test_processes_stopped_even_when_the_body_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with start_redis_cluster(tmp_path) as handle:
            processes = handle.processes
            ports = handle.ports
            assert all(p.poll() is None for p in processes)
            raise RuntimeError("boom")
    assert all(p.returncode is not None for p in processes)
    assert all(_refuses_connections(port) for port in ports)
    handle.stop()  # idempotent
