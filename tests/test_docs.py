"""The docs keep their promises: every name docs/api.md documents exists with the parameters
it shows, and the dashboard is laid out as docs/design.md and app.py say: no page imports torch, and
pages/ holds only the pages app.py navigates to (helpers live in dashboard/)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"
BENCHMARKS = ROOT / "benchmarks"

_SPAN = re.compile(r"`([^`]+)`")
_CALL = re.compile(r"^\.?([A-Za-z_][\w.]*)(?:\((.*)\))?$")


def _api_rows() -> list[tuple[str, list[str], str, str]]:
    """(section heading, modules named in its parentheses, first cell, second cell) per row."""
    rows = []
    heading, modules = "", []
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            inside = re.search(r"\((.*?)\)", heading)
            spans = _SPAN.findall(inside.group(1)) if inside else []
            modules = [s for s in spans if re.fullmatch(r"bnnfer(\.\w+)*", s)]
        elif line.startswith("|") and heading:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] in ("name", "---") or set(cells[0]) <= {"-", " "}:
                continue
            rows.append((heading, modules, cells[0], cells[1] if len(cells) > 1 else ""))
    return rows


def _module(name: str):
    """``bnnfer.<name>``; ``bench``, which lives in benchmarks/ (imported with it on sys.path)."""
    try:
        return importlib.import_module(f"bnnfer.{name}")
    except ModuleNotFoundError:
        if name != "bench":
            raise
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("bench")


def _attribute(owner: object, name: str) -> object:
    if hasattr(owner, name):
        return getattr(owner, name)
    fields = getattr(owner, "__dataclass_fields__", {})
    if name in fields:  # a dataclass field without a default is no class attribute
        return fields[name]
    raise AttributeError(f"{owner!r} has no attribute {name!r}")


def _resolve(dotted: str, modules: list[str]) -> tuple[object, object]:
    """A bare name on `bnnfer` or a module of the section; ``module.attr...`` under bnnfer.
    Returns the object and what it is an attribute of."""
    import bnnfer

    first, *rest = dotted.split(".")
    owners = [bnnfer, *(importlib.import_module(m) for m in modules)]
    found = [o for o in owners if hasattr(o, first)]
    named = {m.rsplit(".", 1)[-1]: m for m in modules}  # `store.x`: bnnfer.inference.store's x
    if found:
        owner, obj = found[0], getattr(found[0], first)
    elif rest and first in named:
        owner, obj = bnnfer, importlib.import_module(named[first])
    elif rest:
        owner, obj = bnnfer, _module(first)
    else:
        raise AttributeError(f"{first!r} is on neither bnnfer nor {modules}")
    for part in rest:
        owner, obj = obj, _attribute(obj, part)
    return obj, owner


def _parameter_names(arguments: str) -> list[str]:
    """``x, samples=None, *, n=3`` -> ``["x", "samples", "n"]``; ``...`` is skipped."""
    names = []
    for argument in arguments.split(","):
        name = argument.split("=")[0].strip().lstrip("*")
        if name and name != "...":
            names.append(name)
    return names


def _check_parameters(obj: object, arguments: str | None, shown: str) -> list[str]:
    if arguments is None:
        return []
    try:
        parameters = inspect.signature(obj).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return [f"{shown}: documented with parameters, but has no signature"]
    return [
        f"{shown}: no parameter {name!r} (it has {list(parameters)})"
        for name in _parameter_names(arguments)
        if name not in parameters
    ]


def test_every_name_in_the_api_doc_resolves() -> None:
    """Each name in the first column resolves (bare names on `bnnfer` or the modules in their
    section's heading, dotted ones under `bnnfer`), with every parameter it shows; a method
    shown in the second column as ``name(...)`` of a documented class has those parameters too.
    """
    rows = _api_rows()
    assert len(rows) > 40, "docs/api.md's tables were not found"
    problems = []
    for _heading, modules, name_cell, what_cell in rows:
        if name_cell.startswith(("`bnnfer ", "`python ")):  # a command, not a name
            continue
        spans = _SPAN.findall(name_cell)
        row_modules = [s for s in spans if re.fullmatch(r"bnnfer(\.\w+)+", s)]  # (`bnnfer.x`)
        for module in row_modules:
            importlib.import_module(module)
        documented, owner = [], None
        for span in spans:
            if span in row_modules:
                continue
            match = _CALL.match(span)
            if match is None:
                problems.append(f"{span}: not a name or a call")
                continue
            dotted, arguments = match.groups()
            try:
                if span.startswith("."):  # `A.f(x)`, `.g(y)`: g is A's too
                    obj = _attribute(owner, dotted)
                else:
                    obj, owner = _resolve(dotted, modules + row_modules)
            except (AttributeError, ImportError) as error:
                problems.append(f"{span}: {error}")
                continue
            problems += _check_parameters(obj, arguments, span)
            documented.append(obj)
        classes = [o for o in documented if inspect.isclass(o)]
        for span in _SPAN.findall(what_cell):
            match = _CALL.match(span)
            if match is None or match.group(2) is None:
                continue
            for cls in classes:
                method = getattr(cls, match.group(1), None)
                if callable(method):
                    problems += _check_parameters(method, match.group(2), f"{cls.__name__}.{span}")
    assert not problems, "docs/api.md is out of date:\n" + "\n".join(problems)


def test_the_api_doc_parser_reads_sections_and_parameters() -> None:
    """The parser itself: section modules, bare names, dotted names and parameter lists."""
    rows = {cell: modules for _, modules, cell, _ in _api_rows()}
    assert rows["`load_ferplus(data=None, splits=None, cache_dir=None, detect=True)`"][0] == (
        "bnnfer.data.ferplus"
    )
    assert _parameter_names("x, samples=None, *, n=3, **kw") == ["x", "samples", "n", "kw"]
    assert _parameter_names("...") == []
    with pytest.raises(AttributeError):
        _resolve("no_such_name", ["bnnfer.data.ferplus"])
    with_placement, owner = _resolve("networks.with_placement", ["bnnfer.models.networks"])
    assert owner.__name__ == "bnnfer.models.networks"
    assert _check_parameters(with_placement, "net, where", "w") == [
        "w: no parameter 'net' (it has ['network', 'placement'])",
        "w: no parameter 'where' (it has ['network', 'placement'])",
    ]


# --------------------------------------------------------------------------------------
# the dashboard's layout

HEAVY = ("torch", "torchvision")


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (top level, functions, branches)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def _navigated_pages() -> list[str]:
    """The paths ``dashboard.shared.pages`` (app.py's navigation) passes to ``st.Page(...)``."""
    tree = ast.parse((ROOT / "dashboard" / "shared.py").read_text(encoding="utf-8"))
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "Page"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


def test_no_page_imports_torch() -> None:
    """The pages lay out what bnnfer computes; torch stays behind bnnfer's functions. And
    every file in pages/ is a page app.py navigates to, not a helper."""
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    importing = {
        path.relative_to(ROOT).as_posix(): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] in HEAVY
        )
        for path in files
    }
    assert not {k: v for k, v in importing.items() if v}, "pages must not import torch"
    navigated = _navigated_pages()
    assert navigated, "app.py navigates to no st.Page"
    assert all((ROOT / page).is_file() for page in navigated), navigated
    pages = sorted(path.relative_to(ROOT).as_posix() for path in ROOT.glob("pages/*.py"))
    helpers = sorted(set(pages) - set(navigated))
    assert not helpers, f"pages/ holds files that are no page (move them to dashboard/): {helpers}"


def test_the_import_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text("import os\n\ndef f():\n    from torch import nn\n    import torchvision.io\n")
    assert _imported_modules(page) == {"os", "torch", "torchvision.io"}
