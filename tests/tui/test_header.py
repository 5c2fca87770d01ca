"""The header at 80 columns (issue 21): the state badges win over everything else in it."""

from __future__ import annotations

import itertools

import pytest

from sse_tui.model import REGISTRY_BADGE, STORE_BADGE, assess
from sse_tui.samples import T0, sample_snapshot
from sse_tui.widgets.header import HeaderStatus, header_line

WIDTH = 78  # an 80-column terminal, less the header's padding
SOURCE = "https://monitoring.internal.example.com:8443/monitoring"


REGISTRY = set(REGISTRY_BADGE.values())  # REBUILDING, SETTLING, EMPTY: the service's verdict is current beside them
BADGES = [None, "SOURCE DOWN", "STORE DOWN", *sorted(set(STORE_BADGE.values())), *sorted(REGISTRY), "UNKNOWN"]


def shown(badge: str | None, health: str | None) -> bool:
    """States the App shows: no badge and no data is not one (it says UNKNOWN until the first
    poll); a registry badge comes with a snapshot, whose verdict is never healthy then."""
    if badge in REGISTRY:
        return health in ("degraded", "unhealthy")
    return badge is not None or health is not None


STATES = [p for p in itertools.product(
    BADGES, [None, "healthy", "degraded", "unhealthy"],
    [False, True], [False, True], [None, ("incident-2025-01-20-prod-eu-west.jsonl", "[585/585]")])
    if shown(p[0], p[1])]
HEALTH = {"healthy": "✔ HEALTHY", "degraded": "▲ DEGRADED", "unhealthy": "✖ UNHEALTHY"}


@pytest.mark.parametrize(("badge", "health", "paused", "readonly", "replay"), STATES)
def test_state_badges_are_never_cut_at_80_columns(badge, health, paused, readonly, replay) -> None:
    current = badge in REGISTRY and not paused  # paused: the verdict on screen is an older frame's
    st = HeaderStatus(source=SOURCE, badge=badge, health=health, recorded_at=T0 + 412 if replay else None,
                      age="1m 35s", poll="14 ms", source_up=badge != "SOURCE DOWN", interval=0.5, paused=paused,
                      readonly=readonly, replay=replay, verdict_current=current)
    text = header_line(st, WIDTH).plain
    assert len(text) <= WIDTH, text
    musts = [badge, "PAUSED" if paused else None, "READONLY" if readonly else None, replay[1] if replay else None]
    if badge is None or current:
        musts.append(HEALTH[health])
        assert "last:" not in text
    for must in filter(None, musts):
        assert must in text, (must, text)
    assert header_line(st).plain.startswith(text[: text.find("│")])  # same order, lower parts dropped only


def test_lower_parts_give_way_in_order_and_only_when_needed() -> None:
    st = HeaderStatus(source=SOURCE, badge=None, health="healthy", age="3s", poll="7.1 ms", interval=1.0)
    wide = header_line(st, 200).plain
    assert wide == header_line(st).plain and SOURCE in wide and "poll 7.1 ms" in wide
    at80 = header_line(st, WIDTH).plain
    assert "poll 7.1 ms" in at80 and "every 1s" in at80 and at80.endswith("…") and len(at80) == WIDTH  # source cut
    narrow = header_line(HeaderStatus(source=SOURCE, badge="SOURCE DOWN", health="degraded", age="3s",
                                      poll="7.1 ms", source_up=False, paused=True, readonly=True), WIDTH).plain
    assert SOURCE[:8] not in narrow and "poll" not in narrow  # the source went, then the poll cost
    assert "updated 3s ago" in narrow and "last: ▲ DEGRADED" in narrow


@pytest.mark.parametrize(("scenario", "badge", "health"), [
    ("rebuilding", "REBUILDING", "✖ UNHEALTHY"), ("settling", "SETTLING", "▲ DEGRADED"), ("empty", "EMPTY", "✖ UNHEALTHY"),
    ("refusing_writes", "STORE REFUSES WRITES", None), ("store_down", "STORE DOWN", None)])
def test_a_registry_badge_keeps_the_current_verdict_a_store_badge_does_not(scenario, badge, health) -> None:
    """REBUILDING / SETTLING / EMPTY: the service answered now and said why its numbers are
    unknown, so its verdict is current (never green); a store badge shows the verdict as last."""
    snap = sample_snapshot(scenario)
    a = assess(snap, last_ok_at=T0, last_error=None, now=T0 + 1, interval=1.0)
    assert a.badge == badge and a.freshness == "unknown" and a.numbers_unknown
    text = header_line(HeaderStatus.of(source=SOURCE, snapshot=snap, assessment=a, data_age=1.0, interval=1.0,
                                       paused=False), WIDTH).plain
    assert badge in text
    if health is None:
        assert "last: ✖ UNHEALTHY" in text
    else:
        assert health in text and "last:" not in text
    frozen = header_line(HeaderStatus.of(source=SOURCE, snapshot=snap, assessment=a, data_age=1.0, interval=1.0,
                                         paused=True, latest=False), WIDTH).plain
    assert "last:" in frozen  # a frame frozen by pause is never shown as the current verdict
