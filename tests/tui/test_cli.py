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
