"""The import graph of the project: no circle, core below sse_tui, the manager's parts below it.

Read from the source with ``ast`` (every import: at module level, inside functions, and
under ``TYPE_CHECKING``), so a late import cannot hide a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "sse_tui")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (a name imported from a package that is a
    module of it counts as that module)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in files:  # `import core.store.redis` names core.store.redis
                    t = t.rpartition(".")[0]
                if t and t != name:
                    out.add(t)
        graph[name] = out
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def graph_closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for t in graph.get(todo.pop(), ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


def test_the_graph_reader_sees_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "core.manager" in graph["core.provider"]  # it reads real imports
    assert "core.manager" in graph["core.snapshot_cache"]  # ...those under TYPE_CHECKING too


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_core_never_imports_the_dashboard():
    graph = import_graph()
    assert not {(m, t) for m, ts in graph.items() if m.startswith("core") for t in ts if t.startswith("sse_tui")}


MANAGER_PARTS = ("core.clock", "core.store_status", "core.loops", "core.local_streams", "core.registry",
                 "core.cleanup", "core.snapshot", "core.recorder", "core.durations")


def test_the_managers_parts_never_reach_the_manager():
    """The parts are handed what they need; none imports the façade that builds them."""
    graph = import_graph()
    assert set(MANAGER_PARTS) <= graph["core.manager"] | {"core.loops", "core.durations"}
    assert {p: "core.manager" for p in MANAGER_PARTS if "core.manager" in graph_closure(graph, p)} == {}


def test_the_manager_never_reads_admission():
    """Admission counts are handed to the manager (``admission_source``), never read by it."""
    assert "core.admission" not in graph_closure(import_graph(), "core.manager")



FETCHING = ("sse_tui.app", "sse_tui.sources", "sse_tui.cli", "sse_tui.recording", "sse_tui.samples", "core.fleet",
            "core.manager", "core.store")


def test_widgets_render_and_never_fetch():
    """A widget or dialog imports no source, store, App or fleet reader (the App hands it a
    View); and no widget reaches the App that holds it."""
    graph = import_graph()
    widgets = [m for m in graph if m.startswith("sse_tui.widgets")]
    assert "sse_tui.widgets.panel" in widgets and "sse_tui.widgets.dialogs.detail" in widgets
    reached = {w: sorted(t for t in graph_closure(graph, w) if any(t == f or t.startswith(f + ".") for f in FETCHING))
               for w in widgets}
    assert {w: ts for w, ts in reached.items() if ts} == {}

