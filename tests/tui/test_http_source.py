"""HttpSource against a real uvicorn server on loopback, and against hostile responses."""

from __future__ import annotations

import json

import httpx
import pytest

from sse_tui.model import ConnectionQuery
from sse_tui.samples import sample_stats
from sse_tui.sources import HttpSource, SourceError, redact_url


async def test_fetches_stats_and_connections_with_token(fake_service) -> None:
    src = HttpSource(fake_service.monitoring_url, token="s3cret")
    try:
        snap = await src.fetch()
        page = await src.list_connections(ConnectionQuery(state="all", limit=3))
    finally:
        await src.aclose()
    assert snap.stats.health_indicators.overall_health == "healthy"
    assert len(page.connections) == 3 and page.total == 5 and page.limit == 3
    assert snap.poll_ms is not None and snap.poll_ms >= 0 and snap.response_bytes and snap.response_bytes > 100
    assert fake_service.auth_seen[0] == "Bearer s3cret"
    assert "s3cret" not in src.describe()


async def test_cleanup_round_trip(fake_service) -> None:
    src = HttpSource(fake_service.base_url, token="s3cret")  # base URL works too
    try:
        result = await src.cleanup(7)
    finally:
        await src.aclose()
    assert (result.cleaned, result.failed) == (3, 0)
    assert fake_service.cleanup_calls == [{"batch_size": 7}]


@pytest.mark.parametrize(
    ("token", "server_token", "reason"),
    [
        (None, "s3cret", "requires a token"),
        ("wrong", "s3cret", "token was rejected"),
        ("s3cret", None, "cleanup is disabled"),
    ],
)
async def test_cleanup_refusals_have_reasons(fake_service, token, server_token, reason) -> None:
    fake_service.token = server_token
    src = HttpSource(fake_service.monitoring_url, token=token)
    try:
        with pytest.raises(SourceError, match=reason):
            await src.cleanup(5)
    finally:
        await src.aclose()


async def test_cleanup_conflict_and_bad_batch(fake_service) -> None:
    src = HttpSource(fake_service.monitoring_url, token="s3cret")
    try:
        with pytest.raises(SourceError, match="positive integer"):
            await src.cleanup(0)
        fake_service.cleanup_status = 409
        with pytest.raises(SourceError, match="already running"):
            await src.cleanup(5)
    finally:
        await src.aclose()


async def test_server_error_status(fake_service) -> None:
    fake_service.status = 503
    src = HttpSource(fake_service.monitoring_url)
    try:
        with pytest.raises(SourceError, match="HTTP 503"):
            await src.fetch()
    finally:
        await src.aclose()


async def test_unreachable_is_a_reason_not_a_traceback() -> None:
    src = HttpSource("http://127.0.0.1:9/monitoring", timeout=1)
    try:
        with pytest.raises(SourceError, match="cannot connect|timed out"):
            await src.fetch()
    finally:
        await src.aclose()


GOOD = sample_stats().model_dump(mode="json")


def _wrong_types() -> bytes:
    bad = json.loads(json.dumps(GOOD))
    bad["connection_stats"]["active_connections"] = "lots"
    return json.dumps(bad).encode()


@pytest.mark.parametrize(
    ("body", "ctype", "reason"),
    [
        (b"\x00\xffgarbage{{", "application/json", "not JSON"),
        (b"<html><body>502 Bad Gateway</body></html>", "text/html", "HTML"),
        (json.dumps(GOOD).encode()[:200], "application/json", "not JSON"),
        (_wrong_types(), "application/json", "connection_stats.active_connections"),
        (b"[1, 2, 3]", "application/json", "JSON list"),
        (b'{"hello": "world"}', "application/json", "not the monitoring JSON"),
        (b"", "application/json", "not JSON"),
    ],
    ids=["garbage", "html", "truncated", "wrong-types", "list", "other-json", "empty"],
)
async def test_hostile_responses_become_reasons(body: bytes, ctype: str, reason: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body, headers={"content-type": ctype}))
    src = HttpSource("http://svc/monitoring", transport=transport)
    try:
        with pytest.raises(SourceError, match=reason):
            await src.fetch()
    finally:
        await src.aclose()


async def test_huge_body_is_capped_streaming() -> None:
    async def stream():
        for _ in range(100):
            yield b" " * 65536

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=stream()))
    src = HttpSource("http://svc/monitoring", transport=transport, max_bytes=1_000_000)
    try:
        with pytest.raises(SourceError, match="too large"):
            await src.fetch()
    finally:
        await src.aclose()


async def test_huge_declared_length_is_refused() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, content=b"{}", headers={"content-length": str(50 * 1024 * 1024)})
    )
    src = HttpSource("http://svc/monitoring", transport=transport)
    try:
        with pytest.raises(SourceError, match="too large"):
            await src.fetch()
    finally:
        await src.aclose()


async def test_missing_connections_endpoint_is_a_clear_error_not_a_poll_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/monitoring":
            return httpx.Response(200, json=GOOD)
        return httpx.Response(404)

    src = HttpSource("http://svc/monitoring", transport=httpx.MockTransport(handler))
    try:
        snap = await src.fetch()
        with pytest.raises(SourceError, match="connections list refused"):
            await src.list_connections(ConnectionQuery())
    finally:
        await src.aclose()
    assert snap.page is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://***@cache:6379/0"),
        ("http://user:pw@svc:8000/monitoring?token=abc", "http://***@svc:8000/monitoring"),
        ("http://svc/monitoring", "http://svc/monitoring"),
    ],
)
def test_secrets_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown


async def test_demo_source_polls_the_embedded_service_over_http() -> None:
    pytest.importorskip("core.demo")
    from sse_tui.sources import DemoSource

    src = DemoSource(clients=3)
    assert "starting" in src.describe()
    try:
        snap = await src.fetch()
        assert snap.stats.service_name
        assert src.describe().startswith("embedded demo http://127.0.0.1:")
        result = await src.cleanup(5)  # the demo gets a token, so cleanup is enabled
        assert result.failed >= 0
    finally:
        await src.aclose()
