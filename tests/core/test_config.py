"""Configuration: SSE_* variables, the guide's names, one error naming every bad field."""

from __future__ import annotations


import pytest

from core.config import ConfigError, load_config, validation_warnings


def test_defaults_match_guide():
    cfg = load_config()
    assert cfg.CLEANUP_INTERVAL_SECONDS == 60
    assert cfg.CLEANUP_BATCH_SIZE == 10
    assert cfg.STALE_CONNECTION_THRESHOLD_SECONDS == 300
    assert cfg.PERIODIC_CLEANUP_ENABLED is True
    assert validation_warnings(cfg) == []


def test_env_vars_are_read(monkeypatch):
    monkeypatch.setenv("SSE_CLEANUP_INTERVAL_SECONDS", "30")
    monkeypatch.setenv("SSE_CLEANUP_BATCH_SIZE", "20")
    monkeypatch.setenv("SSE_PERIODIC_CLEANUP_ENABLED", "false")
    monkeypatch.setenv("SSE_REDIS_NAMESPACE", "prod")
    cfg = load_config()
    assert (cfg.CLEANUP_INTERVAL_SECONDS, cfg.CLEANUP_BATCH_SIZE, cfg.PERIODIC_CLEANUP_ENABLED, cfg.REDIS_NAMESPACE) == (30, 20, False, "prod")


def test_guide_style_assignment_is_validated():
    cfg = load_config()
    cfg.CLEANUP_INTERVAL_SECONDS = 30
    assert cfg.CLEANUP_INTERVAL_SECONDS == 30
    with pytest.raises(ValueError):
        cfg.CLEANUP_BATCH_SIZE = 0


def test_one_error_names_every_bad_field(monkeypatch):
    monkeypatch.setenv("SSE_CLEANUP_INTERVAL_SECONDS", "-5")
    monkeypatch.setenv("SSE_CLEANUP_BATCH_SIZE", "0")
    monkeypatch.setenv("SSE_STALE_CONNECTION_THRESHOLD_SECONDS", "soon")
    monkeypatch.setenv("SSE_PING_INTERVAL_SECONDS", "0")
    with pytest.raises(ConfigError) as info:
        load_config()
    msg = str(info.value)
    for name in ("SSE_CLEANUP_INTERVAL_SECONDS", "SSE_CLEANUP_BATCH_SIZE", "SSE_STALE_CONNECTION_THRESHOLD_SECONDS", "SSE_PING_INTERVAL_SECONDS"):
        assert name in msg
    assert len(info.value.errors) == 4


def test_secret_values_not_echoed_in_errors(monkeypatch):
    monkeypatch.setenv("SSE_REDIS_URL", "redis://:hunter2@localhost:6379/0")
    monkeypatch.setenv("SSE_CLEANUP_BATCH_SIZE", "-1")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "hunter2" not in str(info.value)
    cfg_repr = repr(load_config(CLEANUP_BATCH_SIZE=1))
    assert "hunter2" not in cfg_repr


@pytest.mark.parametrize(
    "over, expected",
    [
        (dict(CLEANUP_INTERVAL_SECONDS=9, STALE_CONNECTION_THRESHOLD_SECONDS=300), ["cleanup interval too short"]),
        (dict(CLEANUP_INTERVAL_SECONDS=10, STALE_CONNECTION_THRESHOLD_SECONDS=300), []),
        (dict(CLEANUP_INTERVAL_SECONDS=300, STALE_CONNECTION_THRESHOLD_SECONDS=600), []),
        (dict(CLEANUP_INTERVAL_SECONDS=301, STALE_CONNECTION_THRESHOLD_SECONDS=1000), ["cleanup interval too long"]),
        (dict(CLEANUP_BATCH_SIZE=100), []),
        (dict(CLEANUP_BATCH_SIZE=101), ["batch size too large"]),
        (dict(CLEANUP_INTERVAL_SECONDS=60, STALE_CONNECTION_THRESHOLD_SECONDS=119), ["less than 2x cleanup interval"]),
        (dict(CLEANUP_INTERVAL_SECONDS=60, STALE_CONNECTION_THRESHOLD_SECONDS=120), []),
        (dict(CLEANUP_INTERVAL_SECONDS=10, STALE_CONNECTION_THRESHOLD_SECONDS=44, PING_INTERVAL_SECONDS=15), ["less than 3x ping interval"]),
        (dict(CLEANUP_INTERVAL_SECONDS=10, STALE_CONNECTION_THRESHOLD_SECONDS=45, PING_INTERVAL_SECONDS=15), []),
    ],
)
def test_validation_warning_boundaries(over, expected):
    warnings = validation_warnings(load_config(**over))
    assert len(warnings) == len(expected)
    for w, e in zip(warnings, expected):
        assert e in w


def test_relations_that_cannot_work_are_errors():
    with pytest.raises(ConfigError) as info:
        load_config(WARN_CLEANUP_ERROR_RATE_PERCENT=20, VERY_OLD_SECONDS=100)
    assert "WARN_CLEANUP_ERROR_RATE_PERCENT" in str(info.value) and "VERY_OLD_SECONDS" in str(info.value)


def test_module_level_sse_config_is_the_process_config(monkeypatch):
    import core.config as config_module
    config_module.set_config(None)
    monkeypatch.setenv("SSE_CLEANUP_BATCH_SIZE", "7")
    try:
        from core.config import sse_config
        assert sse_config.CLEANUP_BATCH_SIZE == 7
    finally:
        config_module.set_config(None)


def test_published_fleet_settings_load_back_as_a_config():
    """What a worker publishes for observers (sse-dash --redis) is a valid config itself."""
    from core.config import fleet_settings
    for cfg in (load_config(), load_config(ACTIVITY_RESOLUTION_SECONDS=5, CLEANUP_INTERVAL_SECONDS=30)):
        back = load_config(**fleet_settings(cfg))
        assert fleet_settings(back) == fleet_settings(cfg)
