"""The Prometheus alert rules in ops/prometheus: promtool validity, promtool unit tests, and contract checks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.promql import EXPORTED_METRICS, is_exported, metric_names
from tests.tools import require_binary

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "sse_alerts.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "tests" / "sse_alerts_test.yml"
EXAMPLE_CONFIG = ROOT / "ops" / "prometheus" / "prometheus.example.yml"
TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"

# Every alert the monitoring guide's "Alerting Recommendations" asks for (plus store/absent), by severity.
EXPECTED_ALERTS = {
    # critical
    "SSEHealthUnhealthy": "critical",
    "SSECleanupErrorRateCritical": "critical",
    "SSEConnectionMismatch": "critical",
    "SSEPeriodicCleanupNotRunning": "critical",
    "SSEPeriodicCleanupStalled": "critical",
    "SSEStoreDown": "critical",
    "SSEMetricsAbsent": "critical",
    # warning
    "SSEHealthDegraded": "warning",
    "SSECleanupErrorRateElevated": "warning",
    "SSEStaleConnectionsHigh": "warning",
    "SSEVeryOldConnections": "warning",
    # performance
    "SSECleanupDurationHigh": "warning",
    "SSEHighConnectionCount": "warning",
    "SSECleanupErrorRateTrendingUp": "warning",
}

# The guide's own PromQL for the cleanup error rate; the error-rate alerts must use it verbatim.
# the guide's query, each fleet counter read with max by (job): every pod serves the same
# fleet numbers, so one condition fires one alert (not one per pod)
GUIDE_ERROR_RATE = "max by (job) (rate(sse_cleanup_errors_total[5m])) / max by (job) (rate(sse_cleanup_total[5m])) * 100"



def _require_promtool() -> str:
    return require_binary("promtool", "prometheus")


def _rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _alerts() -> dict[str, dict]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


# ------------------------------------------------------------------ promtool


def test_promtool_check_rules() -> None:
    promtool = _require_promtool()
    result = _run(promtool, "check", "rules", str(RULES))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"SUCCESS: {len(_rules())} rules found" in output, output


def test_promtool_check_example_config_loads_the_rules() -> None:
    promtool = _require_promtool()
    result = _run(promtool, "check", "config", str(EXAMPLE_CONFIG))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS: 1 rule files found" in output and f"SUCCESS: {len(_rules())} rules found" in output, output


def test_promtool_unit_tests_pass() -> None:
    promtool = _require_promtool()
    result = _run(promtool, "test", "rules", str(RULE_TESTS))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output and "FAILED" not in output, output


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """Guard against a vacuous unit-test file: a rule with a shifted threshold must make it fail."""
    promtool = _require_promtool()
    broken = RULES.read_text().replace("sse_connection_mismatch) > 10", "sse_connection_mismatch) >= 10")
    assert broken != RULES.read_text()
    # Same layout as the repo (tests/ next to the rules) so the relative rule_files path resolves.
    (tmp_path / "sse_alerts.yml").write_text(broken)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "sse_alerts_test.yml").write_text(RULE_TESTS.read_text())
    result = _run(promtool, "test", "rules", str(tmp_path / "tests" / "sse_alerts_test.yml"))
    assert result.returncode != 0
    assert "SSEConnectionMismatch" in result.stdout + result.stderr


# --------------------------------------------------------- rule contract


def test_every_recommended_alert_exists_with_its_severity() -> None:
    alerts = _alerts()
    assert set(alerts) == set(EXPECTED_ALERTS)
    for name, severity in EXPECTED_ALERTS.items():
        assert alerts[name]["labels"]["severity"] == severity, name


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_alert_has_for_labels_and_annotations(name: str) -> None:
    rule = _alerts()[name]
    assert re.fullmatch(r"\d+[smh]", rule["for"]), rule.get("for")
    assert rule["labels"].get("category")
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert re.search(r"\{\{\s*\$value\b", annotations["description"]), annotations["description"]
    assert annotations["runbook"] == f"docs/troubleshooting.md#{name.lower()}"


def test_error_rate_alerts_use_the_guides_query() -> None:
    alerts = _alerts()
    assert alerts["SSECleanupErrorRateCritical"]["expr"].strip() == f"{GUIDE_ERROR_RATE} > 10"
    assert alerts["SSECleanupErrorRateElevated"]["expr"].strip() == f"{GUIDE_ERROR_RATE} > 5"
    assert alerts["SSEHealthUnhealthy"]["expr"].strip() == "max by (job) (sse_health_status) > 1"
    assert alerts["SSEStoreDown"]["expr"].strip() == "max by (job) (sse_store_up) == 0"
    assert alerts["SSEMetricsAbsent"]["expr"].strip() == "absent(sse_health_status)"


def test_metric_names_extractor() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{job="x", le!="+Inf"}[5m]))) '
        "and on(instance) b offset 15m > 1e3 unless ignoring(job) c[30m:1m] or sum(d) without (pod) "
        "and absent(e) > bool 0.1"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c", "d", "e"}


def test_rules_reference_only_exported_metrics() -> None:
    used: set[str] = set()
    for rule in _rules():
        names = metric_names(rule["expr"])
        assert names, f"no metric found in {rule['expr']!r}"
        used |= names
    unknown = {name for name in used if not is_exported(name)}
    assert not unknown, f"rules reference metrics the exporter does not expose: {sorted(unknown)}"
    # sanity: the extractor saw the histogram and the counters
    assert {"sse_cleanup_duration_seconds_sum", "sse_cleanup_errors_total", "sse_health_status"} <= used
    assert set(EXPORTED_METRICS)  # the contract list is not empty


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    doc = yaml.safe_load(RULE_TESTS.read_text())
    fired: set[str] = set()
    silent: set[str] = set()
    for group in doc["tests"]:
        for case in group.get("alert_rule_test", []):
            if case.get("exp_alerts"):
                fired.add(case["alertname"])
            else:
                silent.add(case["alertname"])
    assert fired == set(EXPECTED_ALERTS), f"never shown firing: {sorted(set(EXPECTED_ALERTS) - fired)}"
    assert silent == set(EXPECTED_ALERTS), f"never shown silent: {sorted(set(EXPECTED_ALERTS) - silent)}"


def _github_anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_runbook_anchors_exist_in_troubleshooting_doc() -> None:
    if not TROUBLESHOOTING.exists():
        pytest.skip("docs/troubleshooting.md does not exist yet; runbook anchors are not checked")
    anchors = {
        _github_anchor(m.group(1))
        for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", TROUBLESHOOTING.read_text(), re.MULTILINE)
    }
    missing = sorted(name for name in EXPECTED_ALERTS if name.lower() not in anchors)
    assert not missing, f"docs/troubleshooting.md has no heading for: {missing}"


def test_rule_metric_list_is_the_exporters_list():
    from core.exporters.prometheus import METRIC_NAMES
    assert set(EXPORTED_METRICS) == set(METRIC_NAMES)
