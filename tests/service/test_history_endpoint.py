"""``GET /monitoring/history`` over HTTP: the recorder's samples, bad parameters, read auth."""

from __future__ import annotations

import pytest

from core.models import HistorySeries

from .conftest import close_clients, fast_config, open_clients, serve, wait_for

TOKEN = "s3cret-token-value-for-history-tests"


async def test_history_serves_what_the_recorder_wrote():
    async with serve(fast_config(HISTORY_INTERVAL_SECONDS=0.2)) as s:
        clients = await open_clients(s.host, s.port, 3)
        try:
            async def three_connections_recorded():
                r = await s.http.get("/monitoring/history", params={"range": "30s", "step": "1s"})
                assert r.status_code == 200, r.text
                series = HistorySeries.model_validate(r.json())
                return series if 3 in series.last["active"] else None

            series = await wait_for(three_connections_recorded, 20, "a sample with the 3 streams")
            assert series.step == 1 and series.tier_step == 0.2 and len(series.times) in (30, 31)
            assert r_ok(series)
            assert series.workers is None  # not asked for: not read
            r = await s.http.get("/monitoring/history", params={"range": "30s", "step": "1s", "workers": "1"})
            assert r.status_code == 200, r.text
            with_workers = HistorySeries.model_validate(r.json())
            assert isinstance(with_workers.workers, dict)  # the raw tier keeps per-worker counts (once a minute)
        finally:
            await close_clients(clients)


def r_ok(series: HistorySeries) -> bool:
    # unknown buckets are None, never 0; the ones with samples carry the level
    return all((n == 0) == (lv is None) for n, lv in zip(series.samples, series.level, strict=False))


@pytest.mark.parametrize("query, reason", [
    ("range=forever", "not a duration"),
    ("range=1h&step=0.01s", "finer than the sample interval"),
    ("range=60d", "exceeds the history kept"),
    ("range=14d&step=10s", "points"),
    ("range=-5m", "not a duration"),
    ("range=1h&workers=yes-please", "workers must be 1 or 0"),
])
async def test_history_bad_parameters_are_400(query, reason):
    async with serve(fast_config()) as s:
        r = await s.http.get("/monitoring/history?" + query)
        assert r.status_code == 400, r.text
        assert reason in r.json()["error"]


async def test_history_follows_the_read_rules_of_monitoring():
    async with serve(fast_config(MONITORING_TOKEN=TOKEN, MONITORING_READ_REQUIRES_TOKEN=True)) as s:
        assert (await s.http.get("/monitoring/history")).status_code == 401
        assert (await s.http.get("/monitoring/history", headers={"Authorization": "Bearer nope"})).status_code == 403
        r = await s.http.get("/monitoring/history", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and TOKEN not in r.text
        assert HistorySeries.model_validate(r.json()).step >= 10
