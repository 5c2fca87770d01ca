"""Where the dashboard's data comes from.

Every source satisfies :class:`Source`: ``fetch()`` returns a :class:`Snapshot` or raises
:class:`SourceError` with a reason a person can read; ``cleanup()`` asks for one cleanup
run. Third-party errors (httpx, pydantic, JSON) are translated here, once, so the App
and the CLI only ever see ``SourceError``.

Sources:

* :class:`HttpSource`   a remote ``/monitoring`` URL (one ``httpx.AsyncClient`` for life)
* :class:`DemoSource`   the embedded ``core.demo.DemoService`` on loopback, polled over HTTP
* :class:`RedisSource`  straight from Redis through ``core.fleet.FleetReader``
* :class:`ReplaySource` a ``--record`` file played back (see :mod:`sse_tui.recording`)
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from core.models import CleanupResult, ConnectionRecord, MonitoringStats

MAX_BODY_BYTES = 5 * 1024 * 1024
CONNECTIONS_LIMIT = 50


class SourceError(Exception):
    """A poll or command failed; ``reason`` is shown to the user as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    """One successful poll: the monitoring stats plus what it cost to get them."""

    stats: MonitoringStats
    connections: tuple[ConnectionRecord, ...] | None = None
    connections_total: int | None = None
    connections_state: str = "all"
    poll_ms: float | None = None
    response_bytes: int | None = None
    recorded_at: float | None = None  # set on frames played back from a recording


@runtime_checkable
class Source(Protocol):
    def describe(self) -> str:
        """One line naming the source, never containing secrets."""
        ...

    async def fetch(self) -> Snapshot: ...

    async def cleanup(self, batch_size: int) -> CleanupResult: ...

    async def aclose(self) -> None: ...


def redact_url(url: str) -> str:
    """Drop user info (passwords) and query strings from a URL for display."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse_stats(payload: bytes | str | Any) -> MonitoringStats:
    """Validate a monitoring payload, turning every failure into a ``SourceError``."""
    if isinstance(payload, (bytes, str)):
        try:
            payload = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SourceError(f"response is not JSON ({_short(exc)})") from None
    if not isinstance(payload, dict):
        raise SourceError(f"response is not the monitoring JSON (got a JSON {type(payload).__name__})")
    try:
        return MonitoringStats.model_validate(payload)
    except ValidationError as exc:
        raise SourceError(f"response is not the monitoring JSON: {_validation_summary(exc)}") from None


def _validation_summary(exc: ValidationError, limit: int = 2) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "<root>"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"(+{more} more)")
    return "; ".join(parts)


def _short(exc: BaseException, limit: int = 80) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


class HttpSource:
    """Polls a remote ``/monitoring`` URL.

    One ``httpx.AsyncClient`` for the life of the source; bodies are read in chunks and
    capped at ``max_bytes`` so a hostile or broken server cannot fill memory. Retry
    scheduling and backoff live in the App (one poll in flight, rescheduled after it
    completes); this class does exactly one request per call.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 5.0,
        max_bytes: int = MAX_BODY_BYTES,
        connections_state: str = "all",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"not an http(s) URL: {redact_url(url)}")
        self.url = url
        self.base = url[: -len("/monitoring")] if url.endswith("/monitoring") else url
        self.monitoring_url = url if url.endswith("/monitoring") else f"{url}/monitoring"
        self._token = token
        self.max_bytes = max_bytes
        self.connections_state = connections_state
        self.include_connections = True  # the app turns it off while the connections tab is hidden
        headers = {"Accept": "application/json", "User-Agent": "sse-dash"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            transport=transport,
            follow_redirects=False,
        )
        self._timeout = timeout

    def describe(self) -> str:
        return redact_url(self.monitoring_url)

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> tuple[int, bytes, str]:
        try:
            async with self._client.stream("GET", url, params=params) as resp:
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise SourceError(f"response too large ({int(declared):,} bytes, cap {self.max_bytes:,})")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise SourceError(f"response too large (over {self.max_bytes:,} bytes)")
                    chunks.append(chunk)
                return resp.status_code, b"".join(chunks), resp.headers.get("content-type", "")
        except SourceError:
            raise
        except httpx.TimeoutException:
            raise SourceError(f"timed out after {self._timeout:g}s") from None
        except httpx.ConnectError as exc:
            raise SourceError(f"cannot connect to {redact_url(self.base)} ({_short(exc)})") from None
        except httpx.RemoteProtocolError as exc:
            raise SourceError(f"connection broken ({_short(exc)})") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"request failed ({_short(exc)})") from None

    async def fetch(self) -> Snapshot:
        started = time.perf_counter()
        status, body, ctype = await self._get(self.monitoring_url)
        if status in (401, 403):
            hint = "token required (--token)" if status == 401 else "token rejected"
            raise SourceError(f"HTTP {status} from /monitoring: {hint}")
        if status != 200:
            raise SourceError(f"HTTP {status} from /monitoring")
        if "html" in ctype.lower():
            raise SourceError("response is HTML, not the monitoring JSON (wrong URL?)")
        stats = parse_stats(body)
        poll_ms = (time.perf_counter() - started) * 1000
        connections, total = await self._connections() if self.include_connections else (None, None)
        return Snapshot(
            stats=stats,
            connections=connections,
            connections_total=total,
            connections_state=self.connections_state,
            poll_ms=poll_ms,
            response_bytes=len(body),
        )

    async def _connections(self) -> tuple[tuple[ConnectionRecord, ...] | None, int | None]:
        """The connections page is optional: an older server without it is not an error."""
        try:
            status, body, _ = await self._get(
                f"{self.monitoring_url}/connections",
                params={"state": self.connections_state, "limit": CONNECTIONS_LIMIT, "offset": 0},
            )
            if status != 200:
                return None, None
            data = json.loads(body)
            records = tuple(ConnectionRecord.model_validate(r) for r in data["connections"])
            return records, int(data.get("total", len(records)))
        except (SourceError, ValueError, KeyError, TypeError, ValidationError):
            return None, None

    async def cleanup(self, batch_size: int) -> CleanupResult:
        try:
            resp = await self._client.post(f"{self.monitoring_url}/cleanup", json={"batch_size": batch_size})
        except httpx.TimeoutException:
            raise SourceError(f"cleanup timed out after {self._timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"cleanup request failed ({_short(exc)})") from None
        reasons = {
            401: "the service requires a token (--token)",
            403: "the token was rejected",
            404: "cleanup is disabled on the service (no token configured)",
            409: "a cleanup is already running",
        }
        if resp.status_code in reasons:
            raise SourceError(f"cleanup refused: {reasons[resp.status_code]}")
        if resp.status_code == 400:
            try:
                detail = str(resp.json().get("error", "bad request"))
            except (ValueError, AttributeError):
                detail = "bad request"
            raise SourceError(f"cleanup refused: {detail}")
        if resp.status_code != 200:
            raise SourceError(f"cleanup failed: HTTP {resp.status_code}")
        try:
            return CleanupResult.model_validate_json(resp.content)
        except ValidationError as exc:
            raise SourceError(f"unexpected cleanup response: {_validation_summary(exc)}") from None

    async def aclose(self) -> None:
        await self._client.aclose()


class DemoSource:
    """The embedded demo: ``core.demo.DemoService`` on loopback, polled like a remote.

    The service starts on the first fetch (so the UI is up immediately) and gets a random
    token so the cleanup endpoint is enabled; the token is never displayed.
    """

    include_connections = True  # the app turns it off while the connections tab is hidden

    def __init__(self, clients: int = 40, connections_state: str = "all") -> None:
        self.clients = clients
        self.connections_state = connections_state
        self._svc: Any = None
        self._http: HttpSource | None = None
        self._token = secrets.token_urlsafe(16)

    def describe(self) -> str:
        if self._http is None:
            return "embedded demo (starting)"
        return f"embedded demo {self._http.describe()}"

    async def start(self) -> None:
        if self._http is not None:
            return
        try:
            from core.demo import DemoService
        except ImportError as exc:
            raise SourceError(f"embedded demo unavailable ({_short(exc)}); use --url or --redis") from None
        try:
            svc = DemoService(host="127.0.0.1", port=0, clients=self.clients, token=self._token)
            await svc.start()
        except Exception as exc:  # noqa: BLE001 - anything here means "demo did not start"
            raise SourceError(f"embedded demo failed to start ({_short(exc)})") from None
        self._svc = svc
        self._http = HttpSource(svc.monitoring_url, token=svc.token, connections_state=self.connections_state)

    async def fetch(self) -> Snapshot:
        await self.start()
        assert self._http is not None
        self._http.include_connections = self.include_connections
        return await self._http.fetch()

    async def cleanup(self, batch_size: int) -> CleanupResult:
        await self.start()
        assert self._http is not None
        return await self._http.cleanup(batch_size)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._svc is not None:
            svc, self._svc = self._svc, None
            await svc.stop()


def redis_available() -> str | None:
    """None when the Redis source can be used, else why not."""
    try:
        import core.fleet  # noqa: F401
    except ImportError as exc:
        return f"the Redis source needs core.fleet, which is not available ({_short(exc)})"
    return None


class RedisSource:
    """Reads the fleet straight from Redis through ``core.fleet.FleetReader``."""

    def __init__(self, redis_url: str, namespace: str | None = None, connections_state: str = "all") -> None:
        self.redis_url = redis_url
        self.namespace = namespace
        self.connections_state = connections_state
        self.include_connections = True  # the app turns it off while the connections tab is hidden
        self._reader: Any = None

    def describe(self) -> str:
        ns = f" ns={self.namespace}" if self.namespace else ""
        return f"redis {redact_url(self.redis_url)}{ns}"

    async def _connect(self) -> Any:
        if self._reader is None:
            try:
                from core.fleet import FleetReader
            except ImportError as exc:
                raise SourceError(f"Redis source unavailable ({_short(exc)})") from None
            try:
                if self.namespace:
                    self._reader = await FleetReader.connect(self.redis_url, self.namespace)
                else:
                    self._reader = await FleetReader.connect(self.redis_url)
            except Exception as exc:  # noqa: BLE001 - translated once, here
                raise SourceError(f"cannot connect to {redact_url(self.redis_url)} ({_short(exc)})") from None
        return self._reader

    async def fetch(self) -> Snapshot:
        reader = await self._connect()
        started = time.perf_counter()
        try:
            stats = await reader.snapshot()
            poll_ms = (time.perf_counter() - started) * 1000
            records = (await reader.connections(self.connections_state, CONNECTIONS_LIMIT, 0)
                       if self.include_connections else None)
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise SourceError(f"redis read failed ({_short(exc)})") from None
        return Snapshot(
            stats=stats,
            connections=None if records is None else tuple(records),
            connections_state=self.connections_state,
            poll_ms=poll_ms,
        )

    async def cleanup(self, batch_size: int) -> CleanupResult:
        reader = await self._connect()
        try:
            return await reader.cleanup(batch_size)
        except Exception as exc:  # noqa: BLE001
            raise SourceError(f"cleanup failed ({_short(exc)})") from None

    async def aclose(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
