"""Structure of the Grafana dashboard ops/grafana/sse_dashboard.json."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.promql import is_exported, metric_names
from tests.tools import require_binary

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "ops" / "grafana" / "sse_dashboard.json"
DS_REF = "${DS_PROMETHEUS}"
GRID_COLUMNS = 24

# The monitoring guide's "Grafana Dashboard Queries", verbatim.
# The guide's queries, each read with max() across pods: every pod serves the same fleet
# numbers, so max() shows the fleet once (sum() would multiply it by the pod count).
GUIDE_QUERIES = {
    "max(sse_active_connections)",
    "max(rate(sse_cleanup_errors_total[5m])) / max(rate(sse_cleanup_total[5m])) * 100",
    "max(sse_stale_connections)",
    "max(sse_long_lived_connections)",
    "max(sse_very_old_connections)",
    "max(sse_health_status) > 1",
}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict) -> list[dict]:
    """All panels, including those nested in collapsed rows."""
    out: list[dict] = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def _targets(dashboard: dict) -> list[dict]:
    return [target for panel in _panels(dashboard) for target in panel.get("targets", [])]


def test_top_level_fields(dashboard: dict) -> None:
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 39
    assert dashboard["title"] and dashboard["uid"]
    assert dashboard.get("id") is None  # importable into any Grafana
    assert "__inputs" not in dashboard  # the datasource comes from the templating variable only


def test_datasource_is_a_templating_variable(dashboard: dict) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables["DS_PROMETHEUS"]
    assert ds["type"] == "datasource"
    assert ds["query"] == "prometheus"


def test_every_panel_and_target_uses_the_datasource_variable(dashboard: dict) -> None:
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DS_REF}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == DS_REF, panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    # nothing else in the file points at a fixed datasource
    assert '"uid": "prometheus"' not in DASHBOARD.read_text()


def test_panel_ids_unique(dashboard: dict) -> None:
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(ids) == len(set(ids))


def test_grid_positions_valid_and_non_overlapping(dashboard: dict) -> None:
    boxes = []
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        x, y, w, h = grid["x"], grid["y"], grid["w"], grid["h"]
        assert all(isinstance(v, int) for v in (x, y, w, h)), panel["title"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= GRID_COLUMNS, panel["title"]
        boxes.append((panel["title"], x, y, w, h))
    for (a, ax, ay, aw, ah), (b, bx, by, bw, bh) in itertools.combinations(boxes, 2):
        overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
        assert not overlap, f"panels {a!r} and {b!r} overlap"


def test_targets_use_only_exported_metrics(dashboard: dict) -> None:
    for target in _targets(dashboard):
        names = metric_names(target["expr"])
        assert names, target["expr"]
        unknown = sorted(name for name in names if not is_exported(name))
        assert not unknown, f"{target['expr']!r} uses unknown metrics {unknown}"


def test_guide_queries_and_extra_panels_present(dashboard: dict) -> None:
    exprs = {target["expr"] for target in _targets(dashboard)}
    missing = GUIDE_QUERIES - exprs
    assert not missing, f"guide queries missing from the dashboard: {sorted(missing)}"
    used = set().union(*(metric_names(e) for e in exprs))
    assert "sse_cleanup_duration_seconds_bucket" in used  # p95 from the histogram
    assert any(e.startswith("histogram_quantile(0.95,") for e in exprs)
    assert {"sse_connection_mismatch", "sse_workers", "sse_health_status"} <= used


def test_targets_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query (as recording rules in a throwaway file)."""
    promtool = require_binary("promtool", "prometheus")
    dashboard = json.loads(DASHBOARD.read_text())
    rules = [{"record": f"dashboard:query_{i}", "expr": t["expr"]} for i, t in enumerate(_targets(dashboard))]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
