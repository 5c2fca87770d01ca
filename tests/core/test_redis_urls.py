"""Redis with a password, and TLS (rediss://), against real redis-servers."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess

import pytest

from core.config import load_config
from core.manager import ConnectionManager
from core.store.base import StoreUnavailable
from core.store.redis import RedisStore
from tests.redis_server import RedisServer, free_port, wait_until


async def test_password_url_works_and_is_never_echoed(namespace):
    server = RedisServer(password="s3cr3t-pw").start()
    try:
        store = RedisStore(server.url, namespace)
        m = ConnectionManager(store, load_config(PERIODIC_CLEANUP_ENABLED=False))
        await m.start()
        await m.register()
        snap = await m.get_detailed_monitoring_stats()
        assert snap["connection_stats"]["redis_connection_counters"] == 1
        assert "s3cr3t" not in str(snap) and "s3cr3t" not in store.describe()
        await m.stop()
        wrong = RedisStore(server.url.replace("s3cr3t-pw", "wrong-pw"), namespace)
        with pytest.raises(StoreUnavailable) as info:
            await wrong.start()
        assert "wrong-pw" not in str(info.value)
    finally:
        server.stop()


@pytest.fixture
def tls_files(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=tmp_path)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=sse-dash-test-ca")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return tmp_path


def _tls_answers(port: int, ca: str) -> bool:
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


async def test_tls_url(tls_files, namespace):
    port = free_port()
    d = tls_files
    proc = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
                             "--tls-cert-file", str(d / "server.crt"), "--tls-key-file", str(d / "server.key"),
                             "--tls-ca-cert-file", str(d / "ca.crt"), "--tls-auth-clients", "no",
                             "--save", "", "--appendonly", "no", "--dir", str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _tls_answers(port, str(d / "ca.crt")), timeout=15, message="TLS redis-server")
        store = RedisStore(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={d / 'ca.crt'}", namespace)
        m = ConnectionManager(store, load_config(PERIODIC_CLEANUP_ENABLED=False))
        await m.start()
        await m.register()
        assert (await m.monitoring_snapshot()).connection_stats.redis_connection_counters == 1
        await m.stop()
        # without the CA the certificate is refused: a clear StoreUnavailable, not a crash
        with pytest.raises(StoreUnavailable):
            await RedisStore(f"rediss://127.0.0.1:{port}/0", namespace, timeout=1).start()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()
