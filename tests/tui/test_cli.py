"""``sse-dash --once`` / ``--once --json`` output and exit codes."""

from __future__ import annotations

import json

import pytest

from sse_tui.cli import main
from sse_tui.samples import sample_stats


@pytest.mark.parametrize(("health", "code"), [("healthy", 0), ("degraded", 1), ("unhealthy", 2)])
def test_once_exit_code_follows_health(fake_service, capsys, health: str, code: int) -> None:
    fake_service.payload = sample_stats(health).model_dump(mode="json")
    assert main(["--url", fake_service.monitoring_url, "--once"]) == code
    out = capsys.readouterr().out
    assert health.upper() in out and "active 150" in out


def test_once_json_prints_the_monitoring_json(fake_service, capsys) -> None:
    assert main(["--url", fake_service.monitoring_url, "--token", "s3cret", "--once", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["health_indicators"]["overall_health"] == "healthy"
    assert "s3cret" not in json.dumps(data)


def test_once_unreachable_exits_3(capsys) -> None:
    assert main(["--url", "http://127.0.0.1:9/monitoring", "--timeout", "1", "--once"]) == 3
    assert "cannot connect" in capsys.readouterr().err


def test_once_invalid_response_exits_3(fake_service, capsys) -> None:
    fake_service.payload = {"not": "monitoring"}
    assert main(["--url", fake_service.monitoring_url, "--once", "--json"]) == 3
    assert "not the monitoring JSON" in capsys.readouterr().err


def test_redis_unavailable_exits_3(capsys) -> None:
    """Without core.fleet, or with no Redis listening, --redis is a clear error and exit 3."""
    assert main(["--redis", "redis://127.0.0.1:1/0", "--once"]) == 3
    err = capsys.readouterr().err
    assert "core.fleet" in err or "cannot connect" in err
    assert "Traceback" not in err


def test_json_without_once_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--json"])
    assert exc.value.code == 2
