"""How docs/benchmarks.md writes a figure: rates, ratios, shares, seconds, intervals, lists,
tables, and the wrapping of its prose.

Each formatter takes a figure as the results files hold it and returns the text the page shows;
benchmarks/render_docs.py registers them as Jinja2 filters for the templates in
benchmarks/templates/ (``{{ x | secs }}``), and the context functions (docs_engine.py,
docs_workloads.py) build the tables' rows with them.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bnnfer.training.bundle import ROWS

WIDTH = 100  # prose is wrapped to this many columns; tables are left as they are
Doc = Any  # one results file, as json.loads reads it
Context = dict[str, Any]  # the fields one section's template shows

# The page names a method by its comparison row's label, without an ensemble's member count
# ("Ensemble (5)" is "Ensemble"): a results file may come from a bundle of another size.
LABELS = {row.key: re.sub(r" \(\d+\)$", "", row.label) for row in ROWS}
PLACEMENTS = {"all": "every block", "last": "last block + head", "head": "head only"}


def rate(x: float) -> str:
    """A rate or count, rounded, with thousands separators: ``1,234``."""
    return f"{x:,.0f}"


def times(x: float) -> str:
    """A ratio: ``1.25x``, or ``12.3x`` from 10 up."""
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def pct(x: float) -> str:
    """A share in whole percent: 0.75 is ``75%``."""
    return f"{100 * x:.0f}%"


def points(x: float) -> str:
    """An accuracy or accuracy difference, in percent with one decimal."""
    return f"{100 * x:.1f}%"


def secs(x: float | None) -> str:
    """Seconds at two significant figures or so (``56 ms``, ``0.61 s``, ``45 s``); None, a
    time that was never reached, is ``not reached``."""
    if x is None:
        return "not reached"
    if x < 0.1:
        return f"{1000 * x:.0f} ms"
    return f"{x:.2f} s" if x < 1 else f"{x:.1f} s" if x < 10 else f"{x:.0f} s"


def span(values: Iterable[float], fmt: Callable[[float], str]) -> str:
    """``"lo-hi"`` in ``fmt``'s format, or one value when both ends format alike."""
    values = list(values)
    lo, hi = fmt(min(values)), fmt(max(values))
    if lo == hi:
        return lo
    for unit in (" ms", " s", "x", "%"):
        if lo.endswith(unit) and hi.endswith(unit):
            return f"{lo[: -len(unit)]}-{hi}"
    return f"{lo} to {hi}"


def listing(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def verdict(met: bool) -> str:
    return "met" if met else "not met"


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def label(method: str) -> str:
    """A method's or row's label on the page; an unknown key as it is."""
    return LABELS.get(method, method)


def placement(key: str) -> str:
    """Which stochastic layers a placement samples, in words; an unknown key as it is."""
    return PLACEMENTS.get(key, key)


def table(rows: Iterable[Sequence[str]], header: Sequence[str]) -> str:
    """A Markdown table of ``rows`` (cells already formatted) under ``header``."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def reflow(text: str) -> str:
    """Wraps each paragraph and bullet of ``text`` to `WIDTH`; headings and tables stay."""
    blocks = []
    for block in text.strip().split("\n\n"):
        if block.startswith(("#", "|", "    ")):
            blocks.append(block)
            continue
        items, lines = [], block.splitlines()
        for line in lines:
            if line.startswith("* ") or not items:
                items.append(line.strip())
            else:
                items[-1] += " " + line.strip()
        blocks.append("\n".join(wrap(item) for item in items))
    return "\n\n".join(blocks)


def wrap(item: str) -> str:
    """One paragraph or bullet wrapped to `WIDTH`, never inside a `code span`."""
    glued = re.sub(r"`[^`]*`", lambda m: m.group().replace(" ", "\0"), item)
    indent = "  " if item.startswith("* ") else ""
    lines = textwrap.wrap(
        glued, WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(lines).replace("\0", " ")


def records(doc: Doc, key: str, **match: Any) -> list[dict]:
    """The records of ``doc[key]`` whose fields equal ``match``'s."""
    return [r for r in doc[key] if all(r.get(k) == v for k, v in match.items())]


def flops_unit(doc: Doc) -> tuple[str, float]:
    """The unit a results file's FLOP rates are shown in, and GFLOP/s per that unit."""
    return ("TFLOP/s", 1000.0) if doc.get("device") == "cuda" else ("GFLOP/s", 1.0)


def matmul_peaks(doc: Doc) -> str:
    """Each precision's large-matmul rate, in bold: ``**400 GFLOP/s in fp32**, ...``."""
    unit, scale = flops_unit(doc)
    tf32 = doc.get("fp32_peak_is_tf32")
    return ", ".join(
        f"**{rate(doc['matmul_peak_gflops'][p] / scale)} {unit} in "
        f"{'TF32' if p == 'fp32' and tf32 else p}**"
        for p in doc["precisions"]
    )
