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
    assert out.count("\n") == 1  # one line, as the README promises


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


# --------------------------------------------------------------------------- issue 11


def test_token_on_the_command_line_works_but_warns(fake_service, capsys) -> None:
    assert main(["--url", fake_service.monitoring_url, "--token", "s3cret", "--once"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "ps" in err and "s3cret" not in err
    assert fake_service.auth_seen[-1] == "Bearer s3cret"


def test_token_from_env_and_from_file(fake_service, capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SSE_MONITORING_TOKEN", "from-env")
    assert main(["--url", fake_service.monitoring_url, "--once"]) == 0
    assert fake_service.auth_seen[-1] == "Bearer from-env"
    monkeypatch.delenv("SSE_MONITORING_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert main(["--url", fake_service.monitoring_url, "--token-file", str(token_file), "--once"]) == 0
    assert fake_service.auth_seen[-1] == "Bearer from-file"
    assert "warning" not in capsys.readouterr().err


def test_missing_token_file_is_one_line_exit_3(capsys, tmp_path) -> None:
    assert main(["--url", "http://127.0.0.1:9/monitoring", "--token-file", str(tmp_path / "nope"), "--once"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--token-file" in err


@pytest.mark.parametrize("url", [
    "redis://:hunter2@cache:notaport/0",
    "redis://:hunter2@cache:6379/zero",
    "http://:hunter2@cache:6379/0",
    "redis://",
])
def test_malformed_redis_url_is_one_line_exit_3_without_the_password(capsys, url: str) -> None:
    assert main(["--redis", url, "--once"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "hunter2" not in err
    assert "invalid --redis URL" in err


def test_password_as_query_parameter_never_shows(capsys) -> None:
    assert main(["--redis", "redis://127.0.0.1:1/0?password=hunter2", "--once", "--timeout", "3"]) == 3
    captured = capsys.readouterr()
    assert "hunter2" not in captured.err + captured.out
    assert captured.err.count("\n") == 1


def test_bad_url_is_one_line_exit_3(capsys) -> None:
    assert main(["--url", "http://svc:port/monitoring", "--once"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_once_honours_a_total_deadline_against_a_dripping_server(capsys) -> None:
    """A server that drips one byte every 3 s: the per-read timeout never fires; the deadline does."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        conns = []
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
                conns.append(conn)
            except TimeoutError:
                pass
            except OSError:
                break
            for c in conns:
                try:
                    c.sendall(b" ")
                except OSError:
                    pass
            stop.wait(3.0) if conns else None
        for c in conns:
            c.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        code = main(["--url", f"http://127.0.0.1:{port}/monitoring", "--once", "--timeout", "2"])
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()
    assert code == 3
    assert elapsed < 6, elapsed  # the 2 s deadline, not "for ever" (generous on a busy machine)
    assert "within 2s" in capsys.readouterr().err


# --------------------------------------------------------------------------- issue 21: one line, a rejected token


async def test_once_is_one_line_and_a_rejected_token_is_said_and_exits_3(tmp_path) -> None:
    """Against a real service (the demo app on uvicorn, its manager and store): exactly one line
    on stdout whatever the verdict; a token the service rejects is in that line and exits 3
    (the health it read is still there); --json keeps stdout pure JSON and says it on stderr."""
    from core.config import load_config
    from core.demo import DemoService
    from tests.tui.test_terminal_e2e import cli

    svc = DemoService(port=0, clients=0, config=load_config(MONITORING_TOKEN="right-token"))
    await svc.start()
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("right-token\n")
    bad.write_text("wrong-token\n")
    try:
        ok = await cli("--url", svc.monitoring_url, "--token-file", str(good), "--once")
        assert ok.returncode in (0, 1), ok.stdout + ok.stderr
        assert ok.stdout.count("\n") == 1 and ok.stdout.endswith("\n"), ok.stdout
        verdict = "HEALTHY" if ok.returncode == 0 else "DEGRADED"
        assert f": {verdict} (" in ok.stdout and "active 0, counters 0, mismatch 0" in ok.stdout
        assert "TOKEN" not in ok.stdout and ok.stderr == ""

        rejected = await cli("--url", svc.monitoring_url, "--token-file", str(bad), "--once")
        assert rejected.returncode == 3, rejected.stdout + rejected.stderr
        assert rejected.stdout.count("\n") == 1 and "TOKEN REJECTED" in rejected.stdout
        assert f": {verdict} (" in rejected.stdout  # what it read is still said
        assert "wrong-token" not in rejected.stdout + rejected.stderr

        as_json = await cli("--url", svc.monitoring_url, "--token-file", str(bad), "--once", "--json")
        assert as_json.returncode == 3
        assert json.loads(as_json.stdout)["service_name"]
        assert "TOKEN REJECTED" in as_json.stderr and as_json.stderr.count("\n") == 1

        anonymous = await cli("--url", svc.monitoring_url, "--once")  # reading needs no token here
        assert anonymous.returncode == ok.returncode and anonymous.stdout.count("\n") == 1
        assert "TOKEN" not in anonymous.stdout and "token" not in anonymous.stdout
    finally:
        await svc.stop()


async def test_once_with_a_token_the_service_does_not_use_says_so(tmp_path) -> None:
    from core.config import load_config
    from core.demo import DemoService
    from tests.tui.test_terminal_e2e import cli

    svc = DemoService(port=0, clients=0, config=load_config())  # no token configured: actions disabled
    await svc.start()
    token = tmp_path / "token"
    token.write_text("some-token\n")
    try:
        res = await cli("--url", svc.monitoring_url, "--token-file", str(token), "--once")
        assert res.returncode in (0, 1) and res.stdout.count("\n") == 1
        assert "token not used: the service has no token configured" in res.stdout
    finally:
        await svc.stop()


# --------------------------------------------------------------------------- issues 21/22


@pytest.mark.parametrize(("scenario", "code", "musts"), [
    ("late_worker", 1, ["DEGRADED", "workers 3: web-3:977=63 LATE, web-1:4211=", "1 late worker(s): web-3:977"]),
    ("dead_worker", 2, ["UNHEALTHY", "workers 3: web-3:977=41 DEAD, ", "1 dead worker(s) not yet reaped: web-3:977"]),
    ("rebuilding", 2, ["UNHEALTHY", "REGISTRY REBUILDING (the state store lost the fleet's data; 1 of 3 live worker(s) "
                       "re-registered so far; waiting for web-2:4377, web-3:977): numbers unknown (?) until every live "
                       "worker has re-registered", "active ?, counters ?, mismatch ?", "stale ?, long-lived ?, very old ?"]),
    ("settling", 1, ["DEGRADED", "REGISTRY SETTLING (", "until every live worker has resynced", "active ?"]),
    ("refusing_writes", 2, ["STORE REFUSES WRITES (state store refusing_writes: redis refuses writes: OOM",
                            "workers' heartbeats cannot be written", "web-2:4377=72 UNKNOWN"]),
    ("empty", 3, ["NOTHING TO JUDGE", "nothing under the service's namespace: no worker has registered there"]),
])
def test_once_says_worker_states_the_registry_and_refused_writes(fake_service, capsys, scenario, code, musts) -> None:
    """One line each; a registry that is not settled never exits 0, nothing under the
    namespace is "nothing to judge" (exit 3, not UNHEALTHY)."""
    fake_service.payload = sample_stats(scenario).model_dump(mode="json")
    assert main(["--url", fake_service.monitoring_url, "--once"]) == code
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    for must in musts:
        assert must in out, (must, out)
    assert "no alerts" not in out
    if scenario == "empty":
        assert "UNHEALTHY" not in out


def test_once_never_exits_0_on_unknown_numbers_even_if_a_server_says_healthy(fake_service, capsys) -> None:
    """A (buggy or older) server that calls a rebuilding registry healthy: the exit is not 0."""
    stats = sample_stats("rebuilding")
    healthy = stats.health_indicators.model_copy(update={"overall_health": "healthy", "alerts": [], "warnings": []})
    fake_service.payload = stats.model_copy(update={"health_indicators": healthy}).model_dump(mode="json")
    assert main(["--url", fake_service.monitoring_url, "--once"]) == 1
    assert "REGISTRY REBUILDING" in capsys.readouterr().out


def test_once_names_the_recent_notable_events_newest_first_with_their_blast_radius(fake_service, capsys) -> None:
    """Deaths, disconnects, operator actions of the last 15 minutes (data time) are on the
    line, newest first, each with its blast radius; routine cleanups and older events are not."""
    from core.models import BlastRadius, FleetEvent
    from sse_tui.cli import ONCE_EVENTS, ONCE_EVENTS_WINDOW_SECONDS
    from sse_tui.samples import T0

    blast = BlastRadius(cut=63, back=58, not_back=5, window_seconds=10, open=False, cut_at=T0 - 121,
                        median_back_seconds=2.1, not_back_clients=[], listed=63,
                        summary="63 streams cut; 58 back within 10 s, median 2.1 s; 5 not back")
    death = FleetEvent(at=T0 - 120, type="death", count=63, worker_id="web-3:977", blast_id="b1", blast=blast,
                       message="worker web-3:977 died (process 977 gone): 63 stream(s) cut and reaped")
    routine = FleetEvent(at=T0 - 5, type="cleanup", count=2, message="cleanup removed 2 stale connection(s)")
    old = FleetEvent(at=T0 - ONCE_EVENTS_WINDOW_SECONDS - 60, type="death", count=9, message="worker old-1 died")
    disconnects = [FleetEvent(at=T0 - 60 + i, type="disconnect", count=1, message=f"connection c{i} disconnected")
                   for i in range(ONCE_EVENTS)]
    stats = sample_stats("healthy", now=T0)
    fake_service.payload = stats.model_copy(
        update={"recent_events": [routine, old, death, *disconnects]}).model_dump(mode="json")
    assert main(["--url", fake_service.monitoring_url, "--once"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    assert f"{ONCE_EVENTS + 1} events in the last 15m: disconnect 58s ago: connection c2 disconnected" in out, out
    assert "; +1 more" in out  # the death is the oldest of the four: past ONCE_EVENTS
    assert "old-1" not in out and "cleanup removed" not in out

    fake_service.payload = stats.model_copy(update={"recent_events": [routine, death]}).model_dump(mode="json")
    assert main(["--url", fake_service.monitoring_url, "--once"]) == 0
    out = capsys.readouterr().out
    assert ("1 event in the last 15m: death 2m 00s ago: worker web-3:977 died (process 977 gone): 63 stream(s) cut "
            "and reaped (63 streams cut; 58 back within 10 s, median 2.1 s; 5 not back)") in out, out

    fake_service.payload = stats.model_copy(update={"recent_events": [routine, old]}).model_dump(mode="json")
    assert main(["--url", fake_service.monitoring_url, "--once"]) == 0
    assert "in the last 15m" not in capsys.readouterr().out
