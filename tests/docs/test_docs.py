"""The docs keep their promises: every name docs/api.md documents exists with the parameters
it shows; docs/cli.md has a row for every command, shows no option the parser lacks, and lists
every option the parser has; and the dashboard is laid out as docs/design.md says: nothing in it
imports torch, and bnnfer_dashboard/screens/ holds only the pages its navigation names (helpers
live a folder up)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"

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
    """``bnnfer.<name>``; ``bench``, which lives in benchmarks/ (on pytest's ``pythonpath``)."""
    try:
        return importlib.import_module(f"bnnfer.{name}")
    except ModuleNotFoundError:
        if name != "bench":
            raise
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


DASHBOARD = ROOT / "bnnfer_dashboard"


def _navigated_pages() -> list[str]:
    """The files ``bnnfer_dashboard.navigation.pages`` (the entry script's navigation) passes to
    ``st.Page(SCREENS / "name.py", ...)``, relative to the repository."""
    tree = ast.parse((DASHBOARD / "navigation.py").read_text(encoding="utf-8"))
    return [
        f"bnnfer_dashboard/screens/{node.args[0].right.value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "Page"
        and node.args
        and isinstance(node.args[0], ast.BinOp)
        and isinstance(node.args[0].left, ast.Name)
        and node.args[0].left.id == "SCREENS"
        and isinstance(node.args[0].right, ast.Constant)
    ]


def test_no_page_imports_torch() -> None:
    """The pages lay out what bnnfer computes; torch stays behind bnnfer's functions, in the
    pages and the helpers alike. Every file in screens/ is a page the navigation names, not a
    helper, and no folder named pages/ switches on Streamlit's own multipage discovery."""
    files = [ROOT / "app.py", *sorted(DASHBOARD.rglob("*.py"))]
    importing = {
        path.relative_to(ROOT).as_posix(): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] in HEAVY
        )
        for path in files
    }
    assert not {k: v for k, v in importing.items() if v}, "the dashboard must not import torch"
    navigated = _navigated_pages()
    assert navigated, "the navigation names no st.Page"
    assert all((ROOT / page).is_file() for page in navigated), navigated
    pages = sorted(path.relative_to(ROOT).as_posix() for path in DASHBOARD.glob("screens/*.py"))
    helpers = sorted(set(pages) - set(navigated))
    assert not helpers, f"screens/ holds files that are no page (move them up a folder): {helpers}"
    assert not (ROOT / "pages").exists() and not (DASHBOARD / "pages").exists()


def test_the_import_scan_sees_imports_inside_functions(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text("import os\n\ndef f():\n    from torch import nn\n    import torchvision.io\n")
    assert _imported_modules(page) == {"os", "torch", "torchvision.io"}


# --------------------------------------------------------------------------------------
# docs/cli.md and the command line's parser

CLI_DOC = ROOT / "docs" / "cli.md"
_FLAG = re.compile(r"--[a-z][a-z0-9-]*")


def _cli_commands() -> dict[str, set[str]]:
    """Every command that runs (``"bnnfer data info"``, ...) and the flags it accepts."""
    from bnnfer.cli import build_parser
    from bnnfer.cli_reference import arguments, commands

    return {
        name: {flag for action in arguments(parser) for flag in action.option_strings}
        for name, parser in commands(build_parser())
    }


# commands that hand every option they do not know to another program (`streamlit run`)
PASSES_OPTIONS_ON = {"bnnfer dashboard"}


def _command_of(span: str, known: dict[str, set[str]]) -> str | None:
    """The longest known command ``span`` (``bnnfer train --block-rate P``) starts with."""
    words = span.split()
    for end in range(len(words), 0, -1):
        if " ".join(words[:end]) in known:
            return " ".join(words[:end])
    return None


def _overview_problems(text: str, known: dict[str, set[str]]) -> list[str]:
    """What the overview (docs/cli.md above its generated options) gets wrong against the
    parser: a ``bnnfer ...`` span naming no command, a flag its command lacks, a command with no
    row. Each row's bare ``--flag`` spans are its own command's; ``bnnfer x --flag`` spans x's."""
    overview = text.split("## Every option", 1)[0]
    problems, rows = [], set()
    for line in overview.splitlines():
        if not line.startswith("| `bnnfer "):
            continue
        row_command = None
        for span in _SPAN.findall(line.replace("\\|", "|")):
            if span.startswith("bnnfer "):
                command = _command_of(span, known)
                if command is None:
                    problems.append(f"`{span}`: no such command")
                    continue
                row_command = row_command or command
                rows.add(row_command)
            elif span.startswith("--") and row_command:
                command = row_command
            else:
                continue
            if command in PASSES_OPTIONS_ON:
                continue  # its other options are another program's, checked by it
            problems += [
                f"`{span}`: {command} has no {flag}"
                for flag in _FLAG.findall(span)
                if flag not in known[command]
            ]
    problems += [f"{command}: no row in the overview" for command in sorted(set(known) - rows)]
    return problems


def test_the_cli_doc_has_every_command_and_only_real_options() -> None:
    """docs/cli.md's overview has a row per command and shows no flag its command lacks, and
    its generated reference is the parser's, every argument of every command."""
    from bnnfer.cli_reference import reference, replace_between_markers

    text = CLI_DOC.read_text(encoding="utf-8")
    assert replace_between_markers(text, reference()) == text, (
        "docs/cli.md's options are not the parser's: run python -m bnnfer.cli_reference docs/cli.md"
    )
    problems = _overview_problems(text, _cli_commands())
    assert not problems, "docs/cli.md is out of date:\n" + "\n".join(problems)


def test_the_cli_doc_check_finds_a_missing_command_and_a_flag_that_is_not() -> None:
    known = {"bnnfer a": {"--x", "--no-x"}, "bnnfer b c": {"--y"}, "bnnfer d": set()}
    text = (
        "| `bnnfer a --x [--z]` | uses `--no-x` and `bnnfer b c --y`, then `--w` |\n"
        "| `bnnfer b --y` | a command that is not there |\n"
        "## Every option\n| `bnnfer d` | below the overview: not read |\n"
    )
    assert _overview_problems(text, known) == [
        "`bnnfer a --x [--z]`: bnnfer a has no --z",
        "`--w`: bnnfer a has no --w",
        "`bnnfer b --y`: no such command",
        "bnnfer b c: no row in the overview",  # named in a's row, but it has none of its own
        "bnnfer d: no row in the overview",
    ]


def test_the_cli_reference_writes_each_kind_of_argument() -> None:
    import argparse

    from bnnfer.cli_reference import BEGIN, END, reference, replace_between_markers

    parser = argparse.ArgumentParser(prog="tool")
    sub = parser.add_subparsers().add_parser("run", description="Runs 100%% of it.")
    sub.add_argument("files", nargs="+", metavar="FILE", help="inputs")
    sub.add_argument("--out", required=True, help="to <dir>")
    sub.add_argument("--mode", choices=("a", "b"), default="a", help="mode (default: %(default)s)")
    sub.add_argument("--rows", "--methods", nargs="+", metavar="ROW", help="only these")
    sub.add_argument("--fast", action=argparse.BooleanOptionalAction, help="go")
    sub.add_argument("--quiet", action="store_true", help="hush")
    assert reference(parser) == (
        "### `tool run`\n\nRuns 100%% of it.\n\n"
        "* `FILE [FILE ...]`: inputs\n"
        "* `--out OUT` (required): to \\<dir>\n"
        "* `--mode {a,b}`: mode (default: a)\n"
        "* `--rows ROW [ROW ...]` / `--methods ROW [ROW ...]`: only these\n"
        "* `--[no-]fast`: go\n"
        "* `--quiet`: hush\n"
    )
    page = f"intro\n{BEGIN}\nold\n{END}\nafter\n"
    assert replace_between_markers(page, "new\n") == f"intro\n{BEGIN}\n\nnew\n\n{END}\nafter\n"
    with pytest.raises(ValueError, match="expected one"):
        replace_between_markers("no markers\n", "new\n")
