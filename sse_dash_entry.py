"""The console scripts' first step: is the ``core`` Python would import sse-dash's own?

sse-dash's library is the top-level package ``core``. Another ``core`` can take its place:
an application's own ``core/`` package (a common Django app name) ahead of it on
``sys.path`` (the current directory under ``python -m`` or ``uvicorn``, ``PYTHONPATH``), or
another distribution that installs a ``core`` package over its files. Python then fails
deep inside with ``No module named 'core.exporters'``; this module says what happened in
one line that names both files and what to do. It imports nothing of ``core`` before it
has checked (and lives outside it: a shadowed ``core`` could not check itself).

``sse-dash`` (the dashboard) also needs its extra: without it, one line says what to install.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["MARKER", "core_conflict", "dashboard", "demo", "missing_dashboard_packages"]

MARKER = "SSE_DASH_CORE"  # set in sse-dash's core/__init__.py
DASHBOARD_PACKAGES = ("textual", "httpx", "plotext")  # the [dashboard] extra (pyproject.toml)
EXIT_START = 3  # sse-dash's exit status for a start-up error


def _ours() -> Path:
    return Path(__file__).resolve().parent / "core" / "__init__.py"


def _what_to_do(found: str) -> str:
    return (f"rename or move the other package, or start from a directory where it is not on sys.path "
            f"(check PYTHONPATH and the current directory); `python -c 'import core; print(core.__file__)'` "
            f"shows which one Python finds ({found})")


def core_conflict() -> str | None:
    """None when ``import core`` gives sse-dash's package, else one line naming both files."""
    ours = _ours()
    loaded = sys.modules.get("core")
    if loaded is not None:
        origin = getattr(loaded, "__file__", None)
        if getattr(loaded, MARKER, None) is True:
            return None
    else:
        spec = importlib.util.find_spec("core")
        origin = None if spec is None else spec.origin
        if spec is None:
            return f"sse-dash: its package `core` is missing (expected {ours}): reinstall sse-dash"
    if origin is None:  # a namespace package: a core/ directory without __init__.py
        paths = list(getattr(loaded, "__path__", None) or getattr(importlib.util.find_spec("core"), "submodule_search_locations", None) or [])
        found = paths[0] if paths else "a directory named core"
        return (f"sse-dash: another `core` ({found}, a directory without __init__.py) shadows sse-dash's package "
                f"`core` ({ours}): {_what_to_do(found)}")
    origin_path = Path(origin).resolve()
    if origin_path != ours:
        return (f"sse-dash: another `core` package ({origin_path}) shadows sse-dash's package `core` ({ours}): "
                f"{_what_to_do(str(origin_path))}")
    try:
        text = origin_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if MARKER not in text:
        return (f"sse-dash: {origin_path} is not sse-dash's: another distribution installed its own `core` package "
                f"over sse-dash's files; install sse-dash in a virtual environment without it "
                f"(pip uninstall both, then pip install sse-dash)")
    return None


def missing_dashboard_packages() -> list[str]:
    return [name for name in DASHBOARD_PACKAGES if importlib.util.find_spec(name) is None]


def _fail(line: str) -> int:
    print(line, file=sys.stderr)
    return EXIT_START


def dashboard() -> int:
    """``sse-dash``."""
    problem = core_conflict()
    if problem:
        return _fail(problem)
    missing = missing_dashboard_packages()
    if missing:
        return _fail(f"sse-dash: the dashboard needs {', '.join(missing)}, which the library alone does not install: "
                     f"pip install 'sse-dash[dashboard]'")
    from sse_tui.cli import main

    return main()


def demo() -> int:
    """``sse-demo``."""
    problem = core_conflict()
    if problem:
        return _fail(problem.replace("sse-dash:", "sse-demo:", 1))
    from core.demo import main

    result = main()
    return int(result or 0)


def check() -> int:
    """``python -m sse_dash_entry``: which ``core`` this interpreter imports (exit 0: sse-dash's, 3: another)."""
    problem = core_conflict()
    if problem:
        return _fail(problem)
    print(f"sse-dash: `core` is sse-dash's ({_ours()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(check())
