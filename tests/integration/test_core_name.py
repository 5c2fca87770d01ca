"""The ``core`` name: when another ``core`` takes sse-dash's place, every entry point fails
with one line naming both files and what to do (run for real, as subprocesses)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import core
import core.ownership
import sse_dash_entry

ROOT = Path(__file__).resolve().parents[2]
OURS = Path(core.__file__).resolve()
BIN = Path(sys.executable).parent


def _run(args: list[str], cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",) and not k.startswith("SSE_")}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def app_dir(tmp_path) -> Path:
    """A Django-style project with its own top-level ``core`` package."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("# the app's own core (models, views...)\n")
    (tmp_path / "core" / "models.py").write_text("THING = 1\n")
    return tmp_path


@pytest.mark.parametrize("entry", [
    [str(BIN / "sse-dash"), "--once", "--url", "http://127.0.0.1:9/monitoring"],
    [str(BIN / "sse-demo"), "--port", "0"],
    [sys.executable, "-m", "sse_dash_entry"],
])
def test_an_apps_own_core_on_the_path_is_one_line_naming_both(app_dir, entry):
    res = _run(entry, cwd=app_dir, pythonpath=app_dir)
    assert res.returncode == 3, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr  # one line, no traceback
    theirs = (app_dir / "core" / "__init__.py").resolve()
    assert f"another `core` package ({theirs}) shadows sse-dash's package `core` ({OURS})" in lines[0]
    assert "rename or move the other package" in lines[0] and "PYTHONPATH" in lines[0]


def test_a_core_directory_without_init_is_named_too(tmp_path):
    (tmp_path / "core").mkdir()  # a namespace package: still shadows
    res = _run([sys.executable, "-m", "sse_dash_entry"], cwd=tmp_path, pythonpath=tmp_path)
    assert res.returncode == 3 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert str(tmp_path / "core") in res.stderr and str(OURS) in res.stderr


def test_another_distributions_core_over_our_files(tmp_path):
    """pip let another distribution write its core/__init__.py over sse-dash's: the entry
    points and the integration helpers (imported by the app) say so in one line."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "core", site / "core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "sse_dash_entry.py", site / "sse_dash_entry.py")
    (site / "core" / "__init__.py").write_text("# another distribution's core\n")
    entry = _run([sys.executable, "-m", "sse_dash_entry"], cwd=tmp_path, pythonpath=site)
    assert entry.returncode == 3 and len(entry.stderr.strip().splitlines()) == 1, entry.stderr
    assert f"{site / 'core' / '__init__.py'} is not sse-dash's: another distribution" in entry.stderr
    helper = _run([sys.executable, "-c", "from core.integration import monitoring_router"], cwd=tmp_path, pythonpath=site)
    assert helper.returncode == 1
    last = helper.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: sse-dash: ") and str(site / "core" / "__init__.py") in last, helper.stderr
    assert str(site / "core" / "ownership.py") in last


def test_the_right_core_passes_and_the_marker_is_one_fact():
    res = _run([sys.executable, "-m", "sse_dash_entry"], cwd=ROOT)
    assert res.returncode == 0 and str(OURS) in res.stdout, res.stderr
    assert sse_dash_entry.MARKER == core.ownership.MARKER and getattr(core, core.ownership.MARKER) is True
