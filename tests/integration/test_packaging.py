"""Packaging: the library alone (no dashboard), installs beside an app's own textual, one
version source, typed packages, LICENSE."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
import venv
from importlib.metadata import distribution, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(specs: list[str]) -> dict[str, str]:
    return {d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].split(";")[0].strip(): d for d in specs}


def test_runtime_dependencies_are_ranges_and_exact_pins_are_test_only():
    project = _pyproject()["project"]
    runtime = project["dependencies"]
    assert not [d for d in runtime if "==" in d], runtime
    assert not {"textual", "rich", "pygments", "httpx", "plotext"} & set(_names(runtime)), runtime  # the dashboard's: an extra
    for spec in runtime:
        assert ">=" in spec, spec  # a lower bound CI installs (.ci/deps_matrix.sh)
    dashboard = _names(project["optional-dependencies"]["dashboard"])
    assert dashboard["textual"].startswith("textual>=") and "<" in dashboard["textual"] and "httpx" in dashboard
    assert dashboard["plotext"].startswith("plotext>=") and "<" in dashboard["plotext"]
    test = project["optional-dependencies"]["test"]
    assert "textual==8.2.8" in test and "plotext==6.1.0" in test  # snapshot stability
    assert any(d.startswith("prometheus-fastapi-instrumentator") for d in test)
    # core.middleware works with any ASGI framework and needs none: the ones it is tested with are test-only
    assert not {"django", "litestar"} & set(_names(runtime)), runtime
    assert {"django", "litestar"} <= set(_names(test)), test


def test_one_version_source():
    import core
    import sse_tui

    assert "version" not in _pyproject()["project"], "the version is dynamic (read from core.__version__)"
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "core.__version__"}
    assert version("sse-dash") == core.__version__
    assert sse_tui.__version__ == core.__version__  # the copy agrees until it imports core's


def test_license_typed_markers_and_metadata():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "core" / "py.typed").exists() and (ROOT / "sse_tui" / "py.typed").exists()
    project = _pyproject()["project"]
    assert project["license"] == "MIT"
    assert "Typing :: Typed" in project["classifiers"]
    assert all(u.startswith("https://github.com/") for u in project["urls"].values())
    meta = distribution("sse-dash").metadata
    assert meta["License-Expression"] == "MIT" or meta["License"] == "MIT"


def _fresh_install(tmp_path: Path, *requirements: str) -> tuple[str, dict[str, str]]:
    """A copy of the checkout installed with pip's resolver into a fresh venv; (python, env)."""
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SSE_"))}
    reqs = [r.replace("SRC", str(src)) for r in requirements]
    try:
        res = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs],
                             capture_output=True, text=True, env=env, timeout=540)
    except subprocess.TimeoutExpired:
        pytest.fail("pip install did not finish in 540 s")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    return py, env


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_library_alone_brings_no_dashboard(tmp_path):
    """``pip install sse-dash``: a service gets the library, not textual/rich/pygments/httpx;
    ``sse-dash`` then says in one line what to install; the integration imports work."""
    py, env = _fresh_install(tmp_path, "SRC")
    probe = ("import importlib.util as u, core.integration, core.exporters.prometheus, core.streaming; "
             "print([m for m in ('textual', 'rich', 'pygments', 'httpx', 'plotext') if u.find_spec(m)])")
    out = subprocess.run([py, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
    dash = subprocess.run([str(Path(py).parent / "sse-dash"), "--once"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert dash.returncode == 3 and dash.stdout == ""
    assert dash.stderr.strip().splitlines() == [
        "sse-dash: the dashboard needs textual, httpx, plotext, which the library alone does not install: "
        "pip install 'sse-dash[dashboard]'"], dash.stderr


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_installs_beside_textual_8_2_7(tmp_path):
    """A service pinned to textual==8.2.7 installs the dashboard with pip's resolver (PyPI)."""
    py, env = _fresh_install(tmp_path, "SRC[dashboard]", "textual==8.2.7")
    out = subprocess.run([py, "-c", "import importlib.metadata as m, core, sse_tui.cli; "
                          "print(m.version('textual'), m.version('sse-dash'), core.__version__)"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    import core

    assert out.stdout.split() == ["8.2.7", core.__version__, core.__version__]
    typed = subprocess.run([py, "-c", "import core, sse_tui, pathlib; print(all((pathlib.Path(m.__file__).parent / 'py.typed').exists() for m in (core, sse_tui)))"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert typed.stdout.strip() == "True", typed.stderr
