"""bnnfer's layers hold: no import cycle among its modules or the dashboard's, no private
(underscore) name imported from another module (the dashboard and the benchmarks take bnnfer's
public names only), and no Python file outside tests/ over 650 lines.

Imports are read with `ast`, so the ones inside functions and under ``TYPE_CHECKING`` count too:
a cycle that only a lazy import keeps from failing is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "bnnfer"
DASHBOARD = ROOT / "bnnfer_dashboard"
MAX_LINES = 650


def _modules(package: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of every ``.py`` under ``package`` (a package's own name
    for its ``__init__.py``)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(module imported, name taken from it or None) for every import of the package's own
    modules in ``path``, wherever it stands in the file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    root = next(iter(modules)).split(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.split(".")[0] == root]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != root:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.append((submodule, None) if submodule in modules else (target, alias.name))
    return found


def import_graph(package: Path) -> tuple[dict[str, set[str]], list[str]]:
    """The modules each module imports, and every private name imported across modules as
    ``"importer: from module import _name"``."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    private = []
    for name, path in modules.items():
        for module, taken in _imports(name, path, modules):
            if module != name:
                graph[name].add(module)
            if taken and taken.startswith("_") and not taken.startswith("__") and module != name:
                private.append(f"{name}: from {module} import {taken}")
    return graph, private


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each
    sorted: every import cycle lies inside one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_bnnfer_has_no_import_cycle() -> None:
    graph, _ = import_graph(PACKAGE)
    assert len(graph) > 30, "bnnfer's modules were not found"
    assert cycles(graph) == []


def test_no_private_name_is_imported_across_bnnfer_modules() -> None:
    _, private = import_graph(PACKAGE)
    assert private == [], "make these public or keep them in their module:\n" + "\n".join(private)


def test_the_dashboard_has_no_import_cycle_and_takes_no_private_name() -> None:
    graph, private = import_graph(DASHBOARD)
    assert len(graph) > 10, "the dashboard's modules were not found"
    assert cycles(graph) == []
    assert private == []


def test_the_dashboard_and_benchmarks_import_no_private_bnnfer_name() -> None:
    taken = []
    for path in [*DASHBOARD.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bnnfer"):
                taken += [
                    f"{path.relative_to(ROOT)}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert taken == []


def test_no_python_file_outside_tests_is_over_650_lines() -> None:
    files = [
        path
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] not in {"tests", ".venv", "build"}
        and not path.relative_to(ROOT).parts[0].startswith(".")
    ]
    assert len(files) > 50, "the sources were not found"
    long = {
        str(path.relative_to(ROOT)): n
        for path in files
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these files (at most {MAX_LINES} lines each)"


def test_the_checks_see_cycles_and_private_names_where_they_hide(tmp_path: Path) -> None:
    """A lazy import inside a function, one under TYPE_CHECKING and a relative import from a
    subpackage all count; a module imported from its package is that module, not the package."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .sub.b import _helper\n")
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import a\n"
    )
    (package / "sub" / "c.py").write_text("from . import b\nfrom ..a import f\n")
    graph, private = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.sub.c"] == {"pkg.sub.b", "pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    assert private == ["pkg.a: from pkg.sub.b import _helper"]
