"""Only the public API of a dependency (issue 24): no module in core/ or sse_tui/

* imports a name starting with ``_`` from a dependency, or a dependency's private module
  (``textual._xyz``), or reaches a private name through one (``textual._xyz``, ``Widget._x``);
* overrides a dependency's ``_method`` in a subclass (checked on the classes themselves: a
  ``_name`` one of our classes defines that a dependency's class above it in the MRO defines);
* reads or writes a dependency's ``_attribute`` through ``self`` (a ``self._name`` our classes
  use but never define: it can only be a dependency's), or sets a ``_name`` on another object
  that is not ours (``widget._sse_dash_x = ...`` on a Textual widget).

Read from the source with ``ast`` (every import, also inside functions and under
``TYPE_CHECKING``), the class hierarchy from the imported classes. Each check is shown to
find what it looks for on a small sample first, so it cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("core", "sse_tui")


# documented despite the underscore (the standard library's own docs)
DOCUMENTED = {("os", "_exit")}


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def ours(module: str) -> bool:
    return module.split(".")[0] in PROJECT


def sources() -> Iterator[tuple[str, ast.Module]]:
    for pkg in PROJECT:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, ast.parse(path.read_text(encoding="utf-8"))


def import_violations(module: str, tree: ast.Module) -> list[str]:
    """Private names or modules imported from a dependency, or reached through a name bound
    to one (``import textual`` then ``textual._x``; ``from textual.widget import Widget``
    then ``Widget._x``)."""
    bad: list[str] = []
    dependency_names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module != "__future__":
            if ours(node.module):
                continue
            if any(private(p) for p in node.module.split(".")):
                bad.append(f"{module}:{node.lineno} imports from the private module {node.module}")
            for a in node.names:
                if private(a.name):
                    bad.append(f"{module}:{node.lineno} imports the private name {a.name} from {node.module}")
                dependency_names.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if ours(a.name):
                    continue
                if any(private(p) for p in a.name.split(".")):
                    bad.append(f"{module}:{node.lineno} imports the private module {a.name}")
                dependency_names.add(a.asname or a.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr) and isinstance(node.value, ast.Name) \
                and node.value.id in dependency_names and (node.value.id, node.attr) not in DOCUMENTED:
            bad.append(f"{module}:{node.lineno} uses {node.value.id}.{node.attr}, a dependency's private name")
    return bad


def foreign_sets(module: str, tree: ast.Module) -> list[str]:
    """``x._name = ...`` / ``setattr(x, "_name", ...)`` on anything but ``self`` / ``cls``,
    unless ``x``'s ``_name`` is set on ``self`` somewhere in our code (then it is ours)."""
    bad: list[str] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, (ast.Assign,)):
            targets = [t for tgt in node.targets for t in (tgt.elts if isinstance(tgt, ast.Tuple) else [tgt])]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and private(node.args[1].value):
            bad.append(f"{module}:{node.lineno} setattr(..., {node.args[1].value!r})")
        for t in targets:
            if isinstance(t, ast.Attribute) and private(t.attr) and not (
                    isinstance(t.value, ast.Name) and t.value.id in ("self", "cls")) and t.attr not in SELF_SET:
                bad.append(f"{module}:{node.lineno} sets {ast.unparse(t)} (not ours: never set on self in our code)")
    return bad


def self_attributes(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(``self._x`` names used, ``self._x`` names assigned) in ``tree``."""
    used: set[str] = set()
    assigned: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls") \
                and private(node.attr):
            used.add(node.attr)
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                assigned.add(node.attr)
    return used, assigned


SELF_SET: set[str] = set()
for _, _tree in sources():
    SELF_SET |= self_attributes(_tree)[1]


def project_classes() -> Iterator[type]:
    for module, _ in sources():
        if module.endswith("__main__"):
            continue  # runs the program when imported
        mod = importlib.import_module(module)
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == module:
                yield cls


def defined_by_us(cls: type, mine: Callable[[str], bool] = ours) -> set[str]:
    """Every ``_name`` our classes in ``cls``'s MRO define: in the class body, annotated, or
    set on ``self`` in their source."""
    names: set[str] = set()
    for k in cls.__mro__:
        if not mine(k.__module__):
            continue
        names |= set(vars(k)) | set(getattr(k, "__annotations__", {})) | set(getattr(k, "__private_attributes__", {}))
        try:
            names |= self_attributes(ast.parse(textwrap.dedent(inspect.getsource(k))))[1]
        except (OSError, TypeError):
            pass
    return names


def class_violations(cls: type, mine: Callable[[str], bool] = ours) -> list[str]:
    """A dependency's ``_method`` overridden, or a dependency's ``self._x`` used."""
    deps = [k for k in cls.__mro__[1:] if not mine(k.__module__) and k is not object]
    if not deps:
        return []
    bad = []
    try:
        body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    except (OSError, TypeError):
        return bad
    assert isinstance(body, ast.ClassDef)
    written: set[str] = set()  # what the class body itself defines (not what a metaclass adds)
    for node in body.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            written.add(node.name)
        elif isinstance(node, ast.Assign):
            written |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            written.add(node.target.id)
    for name in sorted(written):
        if private(name) and not name.startswith(f"_{cls.__name__}__"):
            owner = next((k for k in deps if name in vars(k)), None)
            if owner is not None:
                bad.append(f"{cls.__module__}.{cls.__qualname__} overrides {owner.__module__}.{owner.__qualname__}.{name}")
    used, _ = self_attributes(body)
    for name in sorted(used - defined_by_us(cls, mine)):
        if not name.startswith("__"):
            bad.append(f"{cls.__module__}.{cls.__qualname__} uses self.{name}, which only a dependency defines")
    return bad


# ------------------------------------------------------------------ the checks find what they look for


SAMPLE = '''
import textual._context
from textual._compositor import Compositor
from textual.widget import Widget
from textual import _x as y
def f(w):
    w._sse_dash_mark = 1
    setattr(w, "_sse_dash_other", 2)
    return Widget._get_style
'''


def test_the_checks_find_a_violation_in_a_sample() -> None:
    tree = ast.parse(SAMPLE)
    found = import_violations("sample", tree)
    assert any("private module textual._context" in v for v in found)
    assert any("textual._compositor" in v for v in found)
    assert any("private name _x" in v for v in found)
    assert any("Widget._get_style" in v for v in found)
    sets = foreign_sets("sample", tree)
    assert any("_sse_dash_mark" in v for v in sets) and any("_sse_dash_other" in v for v in sets)


def test_the_class_check_finds_an_override_and_a_borrowed_attribute() -> None:
    from textual.widgets import Static

    class Overrides(Static):  # this test module counts as ours here
        def _set_dirty(self, *regions: object) -> None: ...

        def render_line_count(self) -> int:
            return len(self._dirty_regions)

    found = class_violations(Overrides, mine=lambda m: ours(m) or m == __name__)
    assert any("overrides textual." in v and "_set_dirty" in v for v in found), found
    assert any("self._dirty_regions" in v for v in found), found


# ------------------------------------------------------------------ the project


def test_no_private_import_of_a_dependency() -> None:
    assert [v for m, t in sources() for v in import_violations(m, t)] == []


def test_no_private_attribute_set_on_a_dependencys_objects() -> None:
    assert [v for m, t in sources() for v in foreign_sets(m, t)] == []


def test_no_dependencys_private_method_overridden_or_attribute_used() -> None:
    pytest.importorskip("textual")
    classes = list(project_classes())
    widgets = [c for c in classes if any(k.__module__.startswith("textual.") for k in c.__mro__[1:])]
    assert len(widgets) >= 15, [c.__name__ for c in widgets]  # the dashboard's widgets, screens and App are read
    assert [v for cls in classes for v in class_violations(cls)] == []


def reached_from_outside(module: str, tree: ast.Module) -> list[str]:
    """``x._name`` where ``x`` is not ``self`` / ``cls``: another object's private part (the
    App calling a widget's ``_caption()``, or a dependency's ``_x`` through any object).
    A ``_name`` this module's own classes define or set on ``self`` is private to the module, not to
    the instance (another instance of the same class may read it)."""
    bad = []
    own = self_attributes(tree)[1] | {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr) and not (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            if node.attr in own or (isinstance(node.value, ast.Name) and (node.value.id, node.attr) in DOCUMENTED):
                continue
            bad.append(f"{module}:{node.lineno} {ast.unparse(node)}")
    return bad


def test_the_outside_check_finds_a_sample() -> None:
    found = reached_from_outside("sample", ast.parse("def f(app):\n    app.query_one(X)._caption()\n    os._exit(0)\n"))
    assert found == ["sample:2 app.query_one(X)._caption"]


def test_no_object_reaches_anothers_private_part() -> None:
    assert [v for m, t in sources() for v in reached_from_outside(m, t)] == []
