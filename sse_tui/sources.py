"""Where the dashboard's data comes from.

Every source satisfies :class:`Source`: ``fetch()`` returns a :class:`Snapshot` or raises
:class:`SourceError` with a reason a person can read. What else a source can do is
declared by the capability protocols below (:class:`Pager`, :class:`Cleaner`,
:class:`Disconnector`, :class:`Reaper`, :class:`AuthChecker`, :class:`Replayer`); the App
asks ``isinstance(source, Pager)``, never probes attributes. Third-party errors (httpx,
pydantic, JSON, redis) are translated here, once, so the App and the CLI only ever see
``SourceError``.

Sources:

* :class:`HttpSource`   a remote ``/monitoring`` URL (one ``httpx.AsyncClient`` for life)
* :class:`DemoSource`   the embedded ``core.demo.DemoService`` on loopback, polled over HTTP
* :class:`RedisSource`  straight from Redis through ``core.fleet.FleetReader``
* :class:`ReplaySource` a ``--record`` file played back (see :mod:`sse_tui.recording`)
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from core import classify
from core.models import (
    ChannelsPage,
    ChannelSummary,
    CleanupResult,
    ConnectionPage,
    ConnectionRecord,
    DisconnectResult,
    HistorySeries,
    MonitoringStats,
    ReapResult,
)
from sse_tui.model import CONNECTION_SORTS, CONNECTION_STATES, ConnectionQuery, Snapshot, Thresholds

MAX_BODY_BYTES = 5 * 1024 * 1024
CONNECTIONS_LIMIT = 50
CLOSE_WAIT_SECONDS = 1.0  # RedisSource.aclose waits this long at most for calls unwinding a cancel
AuthState = Literal["ok", "rejected", "missing", "disabled", "unknown"]

__all__ = ["Snapshot", "SourceError", "Source", "Pager", "Cleaner", "Disconnector", "Reaper", "AuthChecker", "Historian",
           "HttpSource", "DemoSource", "RedisSource", "redact_url", "parse_stats", "local_page", "parse_header"]


_M = TypeVar("_M", bound=BaseModel)


class SourceError(Exception):
    """A poll or command failed; ``reason`` is shown to the user as is (as literal text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class Source(Protocol):
    """Every source: one line naming it, one snapshot per poll, a close."""

    def describe(self) -> str:
        """One line naming the source, never containing secrets."""
        ...

    async def fetch(self) -> Snapshot: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Pager(Protocol):
    """Lists every connection server-side: filter, sort, page; one connection; channels."""

    async def list_connections(self, query: ConnectionQuery) -> ConnectionPage: ...

    async def connection(self, connection_id: str) -> ConnectionRecord | None: ...

    async def channels(self) -> ChannelsPage: ...


@runtime_checkable
class Cleaner(Protocol):
    async def cleanup(self, batch_size: int) -> CleanupResult: ...


@runtime_checkable
class Disconnector(Protocol):
    async def disconnect(self, connection_id: str) -> DisconnectResult: ...


@runtime_checkable
class Reaper(Protocol):
    async def reap_worker(self, worker_id: str) -> ReapResult: ...


@runtime_checkable
class AuthChecker(Protocol):
    async def check_auth(self) -> AuthState: ...


@runtime_checkable
class Historian(Protocol):
    """The fleet's stored history (``GET /monitoring/history``, or the store directly)."""

    async def history(self, range_s: float, step: float) -> HistorySeries: ...


@runtime_checkable
class Prober(Protocol):
    """A cheap "reachable again?" check, run while backing off so recovery is seen at once."""

    async def probe(self) -> bool: ...


def redact_url(url: str) -> str:
    """Drop user info (passwords) and query strings from a URL for display."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid url>"
    netloc = parts.hostname or ""
    if port:
        netloc = f"{netloc}:{port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries (user-info password, ``?password=``), to scrub from messages."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found.append(parts.password)
        if parts.username and parts.password is None:
            found.append(parts.username)  # redis://secret@host: a password without a user
        for key, value in parse_qsl(parts.query, keep_blank_values=False):
            if key.lower() in ("password", "pass", "token", "auth") and value:
                found.append(value)
    except ValueError:
        pass
    return [f for f in found if f]


def scrub(message: str, hidden: Iterable[str]) -> str:
    for secret in hidden:
        if secret and len(secret) >= 1:
            message = message.replace(secret, "***")
    return message


def validate_redis_url(url: str) -> None:
    """A malformed ``--redis`` URL is one clear line (never a traceback, never its password)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        raise SourceError(f"invalid --redis URL {redact_url(url)}: {scrub(str(exc), url_secrets(url))}") from None
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise SourceError(f"invalid --redis URL {redact_url(url)}: scheme must be redis://, rediss:// or unix://")
    if parts.scheme != "unix" and not parts.hostname:
        raise SourceError(f"invalid --redis URL {redact_url(url)}: no host")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise SourceError(f"invalid --redis URL {redact_url(url)}: database must be a number")


def _ci(value: str) -> str:
    return value.casefold()


def local_page(records: Iterable[ConnectionRecord], query: ConnectionQuery, now: float,
               thresholds: Thresholds) -> ConnectionPage:
    """Filter, sort and page records in memory with the server's rules (replays, fixtures)."""
    st = thresholds
    if query.state not in classify.STATES:
        raise SourceError(f"bad connections query ({query.state})")
    cut = st.cut(now)  # the classes are core.classify's, as the server's stores ask them
    rows = [r for r in records if classify.in_state(query.state, r.connected_at, r.last_activity, cut)]
    if query.q:
        needle = _ci(query.q)
        rows = [r for r in rows if needle in _ci(
            f"{r.connection_id}\n{r.client_address}\n{r.worker_id}\n{r.host}\n{r.channel}\n{r.user_agent}")]
    keys = {
        "age": lambda r: now - r.connected_at,
        "idle": lambda r: now - r.last_activity,
        "events": lambda r: -1 if r.events_sent is None else r.events_sent,  # not counted: after every count
        "bytes": lambda r: r.bytes_sent,
        "queued": lambda r: -1 if r.queued_bytes is None else r.queued_bytes,
    }
    rows.sort(key=keys.get(query.sort, keys["age"]), reverse=query.order != "asc")
    window = rows[query.offset: query.offset + query.limit]
    return ConnectionPage(state=query.state, query=query.q, sort=query.sort, order=query.order,
                          total=len(rows), limit=query.limit, offset=query.offset, now=now,
                          stale_threshold_seconds=st.stale_seconds, connections=window)


def channels_locally(records: Iterable[ConnectionRecord], now: float, stale_seconds: float) -> ChannelsPage:
    """The channels of ``records`` (a replay's, a fixture's), stale counted by core.classify."""
    stale_cut = classify.cut(now, stale_seconds, 0.0, 0.0)
    acc: dict[str, list[ConnectionRecord]] = {}
    for r in records:
        acc.setdefault(r.channel, []).append(r)
    rows = [
        ChannelSummary(channel=ch, connections=len(rs), stale=sum(1 for r in rs if classify.is_stale(r.last_activity, stale_cut)),
                       oldest_connected_at=min(r.connected_at for r in rs))
        for ch, rs in acc.items()
    ]
    rows.sort(key=lambda c: (-c.connections, c.channel))
    return ChannelsPage(now=now, channels=rows)


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


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)


def parse_header(line: str, where: str) -> tuple[str, str]:
    """``"Name: value"`` -> (name, value); a bad line is a SourceError naming ``where``,
    never quoting the value (it is a secret)."""
    name, sep, value = line.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise SourceError(f"{where}: expected 'Name: value'")
    if not _HEADER_NAME.match(name):
        raise SourceError(f"{where}: {name[:40]!r} is not a valid header name")
    if not value:
        raise SourceError(f"{where}: header {name} has no value")
    if any(c in value for c in "\r\n\0"):
        raise SourceError(f"{where}: header {name} has a line break in its value")
    return name, value


class HttpSource:
    """Polls a remote ``/monitoring`` URL; pages connections, acts with the bearer token
    or with the headers the app's own auth needs (``headers``: values are secrets, never
    shown: every message is scrubbed of them).

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
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        max_bytes: int = MAX_BODY_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"not an http(s) URL: {redact_url(url)}")
        try:
            _ = urlsplit(url).port
        except ValueError:
            raise SourceError(f"invalid URL {redact_url(url)}: bad port") from None
        self.url = url
        self.base = url[: -len("/monitoring")] if url.endswith("/monitoring") else url
        self.monitoring_url = url if url.endswith("/monitoring") else f"{url}/monitoring"
        self._described = redact_url(self.monitoring_url)  # shown in the header at every repaint
        self._token = token
        self._extra_headers = dict(headers or {})
        for name, value in self._extra_headers.items():
            parse_header(f"{name}: {value}", "header")  # the same rules as --header
        self._hidden = [v for v in (token, *self._extra_headers.values()) if v]
        self.max_bytes = max_bytes
        sent = {"Accept": "application/json", "User-Agent": "sse-dash"}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(self._extra_headers)  # an explicit Authorization header wins over the token
        self._client = httpx.AsyncClient(
            headers=sent,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            transport=transport,
            follow_redirects=False,
        )
        self._timeout = timeout

    def describe(self) -> str:
        return self._described

    async def _request(self, method: str, url: str, *, params: dict[str, Any] | None = None,
                       json_body: Any = None, what: str = "request") -> tuple[int, bytes, str]:
        try:
            async with self._client.stream(method, url, params=params, json=json_body) as resp:
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
            raise SourceError(f"{what} timed out after {self._timeout:g}s") from None
        except httpx.ConnectError as exc:
            raise SourceError(f"cannot connect to {redact_url(self.base)} ({_short(exc)})") from None
        except httpx.RemoteProtocolError as exc:
            raise SourceError(f"connection broken ({_short(exc)})") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"{what} failed ({_short(exc)})") from None

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> tuple[int, bytes, str]:
        return await self._request("GET", url, params=params)

    async def fetch(self) -> Snapshot:
        started = time.perf_counter()
        status, body, ctype = await self._get(self.monitoring_url)
        if status in (401, 403):
            raise SourceError(f"HTTP {status} from /monitoring: {self._refusal_reason(status, body)}")
        if status != 200:
            raise SourceError(f"HTTP {status} from /monitoring")
        if "html" in ctype.lower():
            raise SourceError("response is HTML, not the monitoring JSON (wrong URL?)")
        stats = parse_stats(body)
        poll_ms = (time.perf_counter() - started) * 1000
        return Snapshot(stats=stats, poll_ms=poll_ms, response_bytes=len(body))

    @staticmethod
    def _body_field(body: bytes, key: str) -> str | None:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        value = data.get(key) if isinstance(data, dict) else None
        return value if isinstance(value, str) else None

    @classmethod
    def _error_of(cls, body: bytes) -> str | None:
        # ours: "error"; FastAPI's HTTPException (a check in front of the endpoints): "detail"
        return cls._body_field(body, "error") or cls._body_field(body, "detail")

    def _refusal_reason(self, status: int, body: bytes) -> str:
        """Which check refused (the service names it in ``check``) and what it expects."""
        check, said = self._body_field(body, "check"), self._error_of(body)
        said = scrub(said[:200], self._hidden) if said else None
        if check == "app_dependency":
            hint = ("the headers sent were not accepted" if self._extra_headers
                    else "send the header it needs with --header, --header-file or SSE_DASH_HEADERS")
            return f"{said or 'refused by the app auth dependency'} ({hint})"
        if check == "bearer_token":
            if status == 401:
                return "refused by the bearer-token check: the service requires a token (SSE_MONITORING_TOKEN or --token-file)"
            if status == 403 and self._token:
                return "refused by the bearer-token check: the token was rejected (not the service's SSE_MONITORING_TOKEN)"
            return f"refused by the bearer-token check: {said or f'HTTP {status}'}"
        # an older service, or a check in front of it (a proxy, the app's middleware)
        if status == 401:
            return ("the service requires a token (SSE_MONITORING_TOKEN or --token-file) or the header its own auth "
                    f"needs (--header){': ' + said if said else ''}")
        return f"the token was rejected, or the headers sent{': ' + said if said else ''}"

    def _refused(self, what: str, status: int, body: bytes, extra: dict[int, str] | None = None) -> SourceError:
        reasons = {404: "not available on the service (no token configured, or not found)"}
        reasons.update(extra or {})
        if status in (401, 403):
            return SourceError(f"{what} refused: {self._refusal_reason(status, body)}")
        if status in reasons:
            return SourceError(f"{what} refused: {reasons[status]}")
        if status == 400:
            said = self._error_of(body)
            return SourceError(f"{what} refused: {scrub(said, self._hidden) if said else 'bad request'}")
        return SourceError(f"{what} failed: HTTP {status}")

    def _answer(self, model: type[_M], what: str, status: int, body: bytes,
                extra: dict[int, str] | None = None) -> _M:
        """A 200 answer parsed as ``model``; otherwise the refusal (naming the check) or what is
        wrong with the body (never a traceback)."""
        if status != 200:
            raise self._refused(what, status, body, extra)
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise SourceError(f"unexpected {what} response: {_validation_summary(exc)}") from None

    async def list_connections(self, query: ConnectionQuery) -> ConnectionPage:
        if query.state not in CONNECTION_STATES or query.sort not in CONNECTION_SORTS:
            raise SourceError(f"bad connections query ({query.state}, {query.sort})")
        params = {"state": query.state, "sort": query.sort, "order": query.order,
                  "limit": query.limit, "offset": query.offset}
        if query.q:
            params["q"] = query.q
        status, body, _ = await self._get(f"{self.monitoring_url}/connections", params=params)
        return self._answer(ConnectionPage, "connections list", status, body)

    async def connection(self, connection_id: str) -> ConnectionRecord | None:
        status, body, _ = await self._get(f"{self.monitoring_url}/connections/{_path(connection_id)}")
        if status == 404:
            return None
        if status != 200:
            raise self._refused("connection detail", status, body)
        try:
            return ConnectionRecord.model_validate(json.loads(body)["connection"])
        except (ValueError, KeyError, TypeError, ValidationError):
            raise SourceError("unexpected connection detail response") from None

    async def channels(self) -> ChannelsPage:
        status, body, _ = await self._get(f"{self.monitoring_url}/channels")
        return self._answer(ChannelsPage, "channels", status, body)

    async def history(self, range_s: float, step: float) -> HistorySeries:
        params = {"range": f"{int(range_s)}s", "step": f"{int(step)}s"}
        status, body, _ = await self._get(f"{self.monitoring_url}/history", params=params)
        return self._answer(HistorySeries, "history", status, body)

    async def probe(self) -> bool:
        """A TCP connect to the service (no request): True when it accepts connections."""
        import asyncio

        parts = urlsplit(self.base)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        if not host:
            return False
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True

    async def check_auth(self) -> AuthState:
        """``GET /monitoring/auth``: are the token or headers accepted? (no side effects)."""
        if not self._token and not self._extra_headers:
            return "missing"
        try:
            status, _, _ = await self._get(f"{self.monitoring_url}/auth")
        except SourceError:
            return "unknown"
        return {200: "ok", 401: "rejected", 403: "rejected", 404: "disabled"}.get(status, "unknown")  # type: ignore[return-value]

    async def cleanup(self, batch_size: int) -> CleanupResult:
        status, body, _ = await self._request("POST", f"{self.monitoring_url}/cleanup",
                                              json_body={"batch_size": batch_size}, what="cleanup")
        return self._answer(CleanupResult, "cleanup", status, body, {
            404: "cleanup is disabled on the service (no token configured)",
            409: "a cleanup is already running"})

    async def disconnect(self, connection_id: str) -> DisconnectResult:
        status, body, _ = await self._request("DELETE", f"{self.monitoring_url}/connections/{_path(connection_id)}",
                                              what="disconnect")
        gone = {404: "no such connection (already gone?)"} if self._error_of(body) != "disabled" else None
        return self._answer(DisconnectResult, "disconnect", status, body, gone)

    async def reap_worker(self, worker_id: str) -> ReapResult:
        status, body, _ = await self._request("POST", f"{self.monitoring_url}/workers/{_path(worker_id)}/reap",
                                              what="reap")
        return self._answer(ReapResult, "reap", status, body, {
            409: "the worker is alive (its heartbeat is current)", 404: "no such worker"})

    async def aclose(self) -> None:
        await self._client.aclose()


def _path(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")


class DemoSource:
    """The embedded demo: ``core.demo.DemoService`` on loopback, polled like a remote.

    The service starts on the first fetch (so the UI is up immediately) and gets a random
    token so the action endpoints are enabled; the token is never displayed.
    """

    def __init__(self, clients: int = 40) -> None:
        self.clients = clients
        self._svc: Any = None
        self._http: HttpSource | None = None
        self._token = secrets.token_urlsafe(16)
        self._starting: Any = None  # asyncio.Lock, made in the running loop

    def describe(self) -> str:
        if self._http is None:
            return "embedded demo (starting)"
        return f"embedded demo {self._http.describe()}"

    @property
    def service(self) -> Any:
        """The running ``core.demo.DemoService`` (tests reach its manager through it)."""
        return self._svc

    async def start(self) -> HttpSource:
        """Start the demo once, however many callers (poll, auth check) arrive together."""
        import asyncio

        if self._http is not None:
            return self._http
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._http is not None:
                return self._http
            return await self._start()

    async def _start(self) -> HttpSource:
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
        self._http = HttpSource(svc.monitoring_url, token=svc.token)
        return self._http

    async def fetch(self) -> Snapshot:
        return await (await self.start()).fetch()

    async def list_connections(self, query: ConnectionQuery) -> ConnectionPage:
        return await (await self.start()).list_connections(query)

    async def connection(self, connection_id: str) -> ConnectionRecord | None:
        return await (await self.start()).connection(connection_id)

    async def channels(self) -> ChannelsPage:
        return await (await self.start()).channels()

    async def history(self, range_s: float, step: float) -> HistorySeries:
        return await (await self.start()).history(range_s, step)

    async def check_auth(self) -> AuthState:
        return await (await self.start()).check_auth()

    async def probe(self) -> bool:
        return await (await self.start()).probe()

    async def cleanup(self, batch_size: int) -> CleanupResult:
        return await (await self.start()).cleanup(batch_size)

    async def disconnect(self, connection_id: str) -> DisconnectResult:
        return await (await self.start()).disconnect(connection_id)

    async def reap_worker(self, worker_id: str) -> ReapResult:
        return await (await self.start()).reap_worker(worker_id)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._svc is not None:
            svc, self._svc = self._svc, None
            await svc.stop()


def _default_namespace() -> str:
    from core.config import SSEConfig

    return str(SSEConfig.model_fields["REDIS_NAMESPACE"].default)


def namespace_of(source: object) -> str | None:
    """The key namespace a source reads, when it knows it (``--redis``); None otherwise."""
    return source.effective_namespace if isinstance(source, RedisSource) else None


def redis_available() -> str | None:
    """None when the Redis source can be used, else why not."""
    try:
        import core.fleet  # noqa: F401
    except ImportError as exc:
        return f"the Redis source needs core.fleet, which is not available ({_short(exc)})"
    return None


class RedisSource:
    """Reads the fleet straight from Redis through ``core.fleet.FleetReader``.

    Every error message is scrubbed of the URL's password (also one given as
    ``?password=``); the fleet's published settings are re-read by every ``snapshot()``.
    """

    def __init__(self, redis_url: str, namespace: str | None = None, *, clock: Callable[[], float] | None = None) -> None:
        """``clock``: None, the store's (Redis ``TIME``); a test's fixed clock asks at an exact moment."""
        validate_redis_url(redis_url)
        self.clock = clock
        self.redis_url = redis_url
        self.namespace = namespace
        # the namespace read: given, or the fleet's default (core.config)
        self.effective_namespace: str = namespace or _default_namespace()
        self._hidden = url_secrets(redis_url)
        self._reader: Any = None
        self._calls = 0  # calls under way (one may be unwinding a cancel: the app's workers)
        self._idle: asyncio.Event | None = None  # set when none is; made in the running loop

    def describe(self) -> str:
        ns = f" ns={self.namespace}" if self.namespace else ""
        return f"redis {redact_url(self.redis_url)}{ns}"

    def _why(self, exc: BaseException) -> str:
        return scrub(_short(exc, 160), self._hidden)

    async def _connect(self) -> Any:
        if self._reader is None:
            try:
                from core.fleet import FleetReader
            except ImportError as exc:
                raise SourceError(f"Redis source unavailable ({_short(exc)})") from None
            try:
                self._reader = await FleetReader.connect(self.redis_url, self.effective_namespace, clock=self.clock)
            except Exception as exc:  # noqa: BLE001 - translated once, here
                raise SourceError(f"cannot connect to {redact_url(self.redis_url)} ({self._why(exc)})") from None
        return self._reader

    async def _call(self, what: str, name: str, *args: Any, **kwargs: Any) -> Any:
        self._calls += 1
        if self._idle is not None:
            self._idle.clear()
        try:
            reader = await self._connect()
            return await getattr(reader, name)(*args, **kwargs)
        except SourceError:
            raise
        except ValueError as exc:
            raise SourceError(f"{what} refused: {self._why(exc)}") from None
        except Exception as exc:  # noqa: BLE001
            raise SourceError(f"{what} failed ({self._why(exc)})") from None
        finally:
            self._calls -= 1
            if self._calls == 0 and self._idle is not None:
                self._idle.set()

    async def fetch(self) -> Snapshot:
        started = time.perf_counter()
        stats = await self._call("redis read", "snapshot")
        return Snapshot(stats=stats, poll_ms=(time.perf_counter() - started) * 1000)

    async def list_connections(self, query: ConnectionQuery) -> ConnectionPage:
        result: ConnectionPage = await self._call("connections list", "list_connections", state=query.state, query=query.q,
                                sort=query.sort, order=query.order, limit=query.limit, offset=query.offset)
        return result

    async def connection(self, connection_id: str) -> ConnectionRecord | None:
        result: ConnectionRecord | None = await self._call("connection detail", "connection", connection_id)
        return result

    async def channels(self) -> ChannelsPage:
        result: ChannelsPage = await self._call("channels", "channels")
        return result

    async def history(self, range_s: float, step: float) -> HistorySeries:
        result: HistorySeries = await self._call("history", "history", range_s, step)
        return result

    async def cleanup(self, batch_size: int) -> CleanupResult:
        result: CleanupResult = await self._call("cleanup", "cleanup", batch_size)
        return result

    async def disconnect(self, connection_id: str) -> DisconnectResult:
        result: DisconnectResult = await self._call("disconnect", "disconnect", connection_id)
        return result

    async def reap_worker(self, worker_id: str) -> ReapResult:
        result: ReapResult = await self._call("reap", "reap_worker", worker_id)
        return result

    async def aclose(self) -> None:
        """Close the reader once the calls under way ended (at most ``CLOSE_WAIT_SECONDS``): the
        app cancels its workers at exit without waiting for them, and a Redis call still
        unwinding its cancel hands its connection back after the pool closed: never closed."""
        if self._calls:
            self._idle = asyncio.Event()
            waiter = asyncio.ensure_future(self._idle.wait())
            try:
                await asyncio.wait((waiter,), timeout=CLOSE_WAIT_SECONDS)
            finally:
                waiter.cancel()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
