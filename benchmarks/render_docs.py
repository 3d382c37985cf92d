"""Render docs/benchmarks.md from the measured results in benchmarks/results/*.json.

This script owns docs/benchmarks.md. The page's prose (what each table measures, what its
columns mean, how to rerun each benchmark, the rules the measurements set) lives in the Jinja2
Markdown templates in benchmarks/templates/, one per section; every figure on it (speeds, ratios,
shares, seconds, GFLOP/s, MiB, the machine) is read from the results files at render time.
Re-measuring is rerunning a benchmark and then this script; no figure is written by hand. A
missing results file leaves its section out, with a one-line note.

Here: the section registry (`SECTIONS`: each section's results files, template and context) and
the rendering. Each section's context function, which turns its results files into the fields
its template shows, is in docs_engine.py or docs_workloads.py; the formatters (rates, ratios,
seconds, intervals, tables, the wrapping) in docs_format.py.

    python benchmarks/render_docs.py [--results DIR] [--out FILE]

tests/docs/test_benchmark_docs.py fails when the committed docs/benchmarks.md is not what this
script renders from benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import docs_engine as engine
import docs_workloads as workloads
import jinja2
from docs_format import (
    Context,
    label,
    listing,
    pct,
    placement,
    reflow,
    secs,
    table,
    times,
    verdict,
    yes_no,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "templates"

TEMPLATE_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,  # a field the context lacks fails the rendering
    autoescape=False,  # Markdown, not HTML
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATE_ENV.filters.update(
    fmt=format,  # {{ x | fmt(".3f") }}: Python's format specification
    code=lambda text: f"`{text}`",
    label=label,
    listing=listing,
    pct=pct,
    placement=placement,
    secs=secs,
    table=table,
    times=times,
    verdict=verdict,
    yes_no=yes_no,
)


# ---- the page ---------------------------------------------------------------------------------


class Section(NamedTuple):
    """One section of the page: its title (for the note when it is left out), the results
    files it needs, its template in benchmarks/templates/, and the function that turns the
    files (parsed, in this order) into the template's fields."""

    title: str
    files: tuple[str, ...]
    template: str
    context: Callable[..., Context]


SECTIONS: list[Section] = [
    Section("A new user's first run", ("first_run.json",), "first_run", workloads.first_run),
    Section(
        "Speed of MC inference on the CPU", ("mc_inference.json",), "cpu_engine", engine.cpu_engine
    ),
    Section(
        "Where the stochastic layers sit", ("mc_inference.json",), "placements", engine.placements
    ),
    Section("End to end", ("mc_inference.json",), "end_to_end", engine.end_to_end),
    Section(
        "End to end on a CPU with AVX-512 BF16",
        ("mc_inference-cpu-bf16.json",),
        "cpu_bf16_end_to_end",
        engine.cpu_bf16_end_to_end,
    ),
    Section("torch.compile", ("mc_inference.json",), "compile", engine.compile_rows),
    Section("glibc's handling of freed memory", ("allocator.json",), "allocator", engine.allocator),
    Section("The photo path's framing", ("framing.json",), "framing", workloads.framing),
    Section(
        "The engine's settings (CPU)",
        ("engine_settings-cpu.json",),
        "engine_settings",
        engine.cpu_settings,
    ),
    Section("A video end to end", ("video.json",), "video", workloads.video),
    Section("Dashboard render times", ("page_render.json",), "page_render", workloads.page_render),
    Section("Many sessions at once", ("load.json",), "load", workloads.load),
    Section(
        "The CPU floor under simultaneous photos",
        ("photo_floor.json", "photo_floor-cpu-bf16.json"),
        "photo_floor",
        workloads.photo_floor,
    ),
    Section("Which precision auto picks", ("bf16_choice.json",), "bf16_choice", engine.bf16_choice),
    Section(
        "Training on the CPU",
        ("train_workers.json", "train_workers-cpu-bf16.json"),
        "train_workers",
        workloads.train_workers,
    ),
    Section(
        "How wide the network may grow",
        ("width_budget.json",),
        "width_budget",
        workloads.width_budget,
    ),
    Section("On a GPU", ("mc_inference-cuda.json",), "gpu_intro", engine.gpu_intro),
    Section(
        "Engine against the naive loop on the GPU",
        ("mc_inference-cuda.json", "mc_inference-cuda-batch1024.json"),
        "gpu_engine",
        engine.gpu_engine,
    ),
    Section("End to end on the GPU", ("mc_inference-cuda.json",), "gpu_end_to_end", engine.timings),
    Section(
        "The engine's settings on the GPU",
        ("engine_settings-cuda.json",),
        "engine_settings",
        engine.gpu_settings,
    ),
    Section("torch.compile on the GPU", ("compile-cuda.json",), "gpu_compile", engine.compile_rows),
]


def fill(template: str, context: Context) -> str:
    """``benchmarks/templates/<template>.md.j2`` rendered with ``context``, wrapped to width."""
    return reflow(TEMPLATE_ENV.get_template(f"{template}.md.j2").render(context))


def render(results: Path) -> str:
    """docs/benchmarks.md's text, from the JSON files in ``results``."""
    parts = [fill("intro", {}), fill("rerun", {})]
    for section in SECTIONS:
        missing = [f for f in section.files if not (results / f).is_file()]
        if missing:
            parts.append(fill("left_out", {"title": section.title, "missing": missing}))
            continue
        docs = [json.loads((results / f).read_text()) for f in section.files]
        parts.append(fill(section.template, section.context(*docs)))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(Path(args.results)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
