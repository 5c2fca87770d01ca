"""The banner: SOURCE DOWN (with the key that retries now), STORE DOWN (or refusing writes,
answering with errors), the registry REBUILDING / SETTLING / EMPTY with the reason, token rejected.

Shown only while something is wrong; the last good data stays below, dimmed. The App
sets the ``status`` reactive to a :class:`BannerStatus` (what is wrong, ages already at
the resolution they are shown at); the banner repaints only when a shown character changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.reactive import var

from sse_tui import fmt
from sse_tui.literal import line
from sse_tui.model import REGISTRY_BADGE, STORE_BADGE
from sse_tui.widgets.rows import Rows

AUTH_MESSAGES = {
    "rejected": "token rejected: actions disabled (cleanup, disconnect, reap)",
    "missing": "no token: actions disabled (set SSE_MONITORING_TOKEN or --token-file)",
}


@dataclass(frozen=True)
class SourceDown:
    reason: str
    data_age: float | None  # seconds since the data shown was fetched; None: no data yet
    retry_in: float | None  # seconds to the next attempt
    failures: int


@dataclass(frozen=True)
class StoreDown:
    state: str
    reason: str | None
    since_age: float | None


@dataclass(frozen=True)
class RegistryNote:
    """The registry's numbers do not stand for now (core.models.RegistryStatus)."""

    state: str  # a key of REGISTRY_BADGE
    reason: str | None
    since_age: float | None  # seconds since the loss / the store's return (None: unknown)
    pending: tuple[str, ...] = ()  # live workers not yet re-registered / resynced
    namespace: str | None = None  # the namespace read (known for --redis)


@dataclass(frozen=True)
class BannerStatus:
    """What is wrong right now; all None: nothing (the banner is hidden)."""

    source_down: SourceDown | None = None
    store_down: StoreDown | None = None
    auth: str | None = None  # a key of AUTH_MESSAGES
    registry: RegistryNote | None = None

    @classmethod
    def of(cls, *, source_down: SourceDown | None = None, store_down: StoreDown | None = None,
           auth: str | None = None, registry: RegistryNote | None = None) -> BannerStatus:
        """Ages and delays cut to the whole seconds the banner shows (so equal means same text)."""
        if source_down is not None:
            sd = source_down
            source_down = SourceDown(sd.reason, _whole(sd.data_age),
                                     None if sd.retry_in is None else float(round(max(sd.retry_in, 0))), sd.failures)
        if store_down is not None:
            store_down = StoreDown(store_down.state, store_down.reason, _whole(store_down.since_age))
        if registry is not None:
            registry = RegistryNote(registry.state, registry.reason, _whole(registry.since_age), registry.pending,
                                    registry.namespace)
        return cls(source_down, store_down, auth if auth in AUTH_MESSAGES else None,
                   registry if registry is not None and registry.state in REGISTRY_BADGE else None)

    @property
    def rows(self) -> list[Content]:
        out: list[Content] = []
        if self.source_down is not None:
            sd = self.source_down
            out.append(source_down_line(sd.reason, data_age=sd.data_age, retry_in=sd.retry_in, failures=sd.failures))
        if self.store_down is not None:
            st = self.store_down
            out.append(store_down_line(st.state, st.reason, st.since_age))
        if self.registry is not None:
            out.append(registry_line(self.registry))
        if self.auth in AUTH_MESSAGES:
            out.append(auth_line(AUTH_MESSAGES[self.auth]))
        return out


def _whole(seconds: float | None) -> float | None:
    return None if seconds is None else float(int(max(seconds, 0)))


class StatusBanner(Rows):
    DEFAULT_CSS = """
    StatusBanner { height: auto; display: none; background: $error 30%; color: $text; padding: 0 1; }
    StatusBanner.-shown { display: block; }
    """

    status: var[BannerStatus] = var(BannerStatus())

    def watch_status(self, status: BannerStatus) -> None:
        rows = status.rows
        if not rows:
            self.remove_class("-shown")
            return
        self.set_rows(rows)
        self.add_class("-shown")


def source_down_line(reason: str, *, data_age: float | None, retry_in: float | None, failures: int) -> Content:
    label = "SOURCE DOWN" if data_age is not None else "NO DATA"
    extra = []
    if data_age is not None:
        extra.append(f"showing data from {fmt.age(data_age)} ago")
    if retry_in is not None:
        extra.append(f"retry in {max(retry_in, 0):.0f}s (attempt {failures + 1})")
    extra.append("press r to retry now")
    return line((f" {label} ", "bold reverse $error"), " ", (reason, ""), (" — " + "; ".join(extra), "dim"))


def store_down_line(state: str, reason: str | None, since_age: float | None) -> Content:
    why = f" ({reason})" if reason else ""
    since = f" for {fmt.age(since_age)}" if since_age is not None else ""
    then = " — its numbers are unknown, shown as ?"
    if state == "refusing_writes":  # a worker cannot write its heartbeat: a missing one says nothing
        then = " — its numbers are unknown, shown as ?; workers' heartbeats cannot be written, so their state is unknown"
    return line((f" {STORE_BADGE.get(state, 'STORE DOWN')} ", "bold reverse $error"), " ",
                (f"state store {state.replace('_', ' ')}{why}{since}", ""), (then, "dim"))


def registry_line(note: RegistryNote) -> Content:
    """REBUILDING / SETTLING / EMPTY: why, since when, whom it waits for, what it means."""
    since = f" (for {fmt.age(note.since_age)})" if note.since_age is not None else ""
    waiting = ""
    if note.pending:
        shown = ", ".join(note.pending[:4]) + (f" +{len(note.pending) - 4} more" if len(note.pending) > 4 else "")
        waiting = f"; waiting for {shown}"
    if note.state == "empty":
        where = f"namespace `{note.namespace}`" if note.namespace else "this namespace"
        text = f"nothing under {where}: no worker has registered there"
        then = (" — a wrong --namespace / SSE_REDIS_NAMESPACE? (or the store lost everything and no worker has "
                "come back yet); nothing to judge")
    else:
        text = f"{note.reason or note.state}{since}{waiting}"
        until = "re-registered" if note.state == "rebuilding" else "resynced"
        then = f" — counts unknown (?) until every live worker has {until}"
    style = "$warning" if note.state == "settling" else "$error"
    return line((f" {REGISTRY_BADGE[note.state]} ", f"bold reverse {style}"), " ", (text, ""), (then, "dim"))


def auth_line(message: str) -> Content:
    return line((" TOKEN ", "bold reverse $warning"), " ", (message, ""))
