"""Render docs/benchmarks.md from the measured results in benchmarks/results/*.json.

This script owns docs/benchmarks.md: the page's prose (what each table measures, what its
columns mean, how to rerun each benchmark, the rules the measurements set) lives here, and every
figure on it (speeds, ratios, shares, seconds, GFLOP/s, MiB, the machine) is read from the
results files at render time. Re-measuring is rerunning a benchmark and then this script; no
figure is written by hand. A missing results file leaves its section out, with a one-line note.

    python benchmarks/render_docs.py [--results DIR] [--out FILE]

tests/test_benchmark_docs.py fails when the committed docs/benchmarks.md is not what this
script renders from benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 100  # prose is wrapped to this many columns; tables are left as they are
Doc = Any  # one results file, as json.loads reads it

METHODS = {
    "classical": "Classical",
    "classical_soft": "Classical, soft-trained",
    "ensemble": "Ensemble",
    "mc_dropout": "MC-Dropout",
    "mc_dropconnect": "MC-DropConnect",
    "mc_dropout_soft": "MC-Dropout, soft-trained",
    "ensemble_soft": "Ensemble, soft-trained",
}
PLACEMENTS = {"all": "every block", "last": "last block + head", "head": "head only"}
# The engine's targets: goals set for it, not measurements; the page says whether each is met.
S_TARGETS = 30  # the number of MC samples the targets are set at
TARGETS = {
    "exact_speedup": 1.3,  # exact MC (stochastic layers in every block) against the naive loop
    "placement_speedup": 5.0,  # last block + head, or head only, against the naive loop
    "share_of_peak": 0.5,  # the engine's FLOP/s against the same precision's matmul peak
    "one_face_s": 0.3,  # one face through every row of the comparison
    "split_s": 120.0,  # the whole Valid split through every row, from an empty cache
    # one face through every row on any CPU that computes bf16 in hardware (AMX or AVX-512 BF16)
    "one_face_bf16_cpu_s": 0.3,
}


# ---- formatting -------------------------------------------------------------------------------


def rate(x: float) -> str:
    return f"{x:,.0f}"


def times(x: float) -> str:
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def secs(x: float | None) -> str:
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
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def verdict(met: bool) -> str:
    return "met" if met else "not met"


def name(method: str) -> str:
    return METHODS.get(method, method)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
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


def measured_on(doc: Doc, file: str) -> str:
    """The line above a table whose results file records its machine."""
    machine = doc["machine"]
    cpu = f"{machine['cpu']}, {machine['threads']} threads"
    where = f"{machine['cuda']} (host: {cpu})" if machine.get("cuda") else f"{cpu}, no GPU"
    return f"Measured on: {where}, torch {machine['torch']} (`benchmarks/results/{file}`)."


def from_file(file: str) -> str:
    """The line above a table whose results file does not record its machine."""
    return f"From `benchmarks/results/{file}` (the file does not record its machine)."


def records(doc: Doc, key: str, **match: Any) -> list[dict]:
    return [r for r in doc[key] if all(r.get(k) == v for k, v in match.items())]


def flops_unit(doc: Doc) -> tuple[str, float]:
    return ("TFLOP/s", 1000.0) if doc.get("device") == "cuda" else ("GFLOP/s", 1.0)


def matmul_peaks(doc: Doc) -> str:
    unit, scale = flops_unit(doc)
    tf32 = doc.get("fp32_peak_is_tf32")
    return ", ".join(
        f"**{rate(doc['matmul_peak_gflops'][p] / scale)} {unit} in "
        f"{'TF32' if p == 'fp32' and tf32 else p}**"
        for p in doc["precisions"]
    )


# ---- sections ---------------------------------------------------------------------------------

RERUN = [
    ("a new user's first run", "python benchmarks/first_run.py --data DIR", "first_run.json"),
    (
        "MC inference (engine, placements, end to end, `torch.compile`)",
        "python benchmarks/mc_inference.py --models assets/models --data DIR --whole-split "
        "--compile --quality-faces 1000 --seconds 2",
        "mc_inference.json",
    ),
    (
        "MC inference end to end on a CPU with bf16 in hardware but no AMX",
        "python benchmarks/mc_inference.py --models assets/models --data DIR --whole-split "
        "--samples 30 --quality-faces 500 --seconds 0.5 --out "
        "benchmarks/results/mc_inference-cpu-bf16.json",
        "mc_inference-cpu-bf16.json",
    ),
    (
        "the engine's settings",
        "python benchmarks/engine_settings.py --batches 1 64 256",
        "engine_settings-cpu.json",
    ),
    ("glibc's handling of freed memory", "python benchmarks/allocator.py", "allocator.json"),
    ("the photo path's framing", "python benchmarks/framing.py --data DIR", "framing.json"),
    ("a video end to end", "python benchmarks/video.py --threads 2 1", "video.json"),
    (
        "the dashboard's render times",
        "BNNFER_DATA=DIR python benchmarks/page_render.py",
        "page_render.json",
    ),
    (
        "everything on a CUDA GPU",
        "benchmarks/cuda.sh DIR OUT",
        "`*-cuda*.json` in OUT (default `benchmarks/results`)",
    ),
    (
        "many sessions at once",
        "python benchmarks/load.py --data DIR --faces 256 --label after",
        "load.json",
    ),
    ("this page", "python benchmarks/render_docs.py", "`docs/benchmarks.md`"),
]


def rerun_section() -> str:
    rows = [
        [what, f"`{command}`", out if out.startswith("`") else f"`{out}`"]
        for what, command, out in RERUN
    ]
    return f"""## How to rerun everything

Each benchmark writes its JSON into `benchmarks/results/`, and this page is rendered from those
files; `DIR` is a FER+ folder (see the README's "The data"). Figures move between runs on a
shared machine: each table is one run's.

{table(["what", "command", "writes"], rows)}"""


def first_run_section(doc: Doc) -> str:
    def against(seconds: float | None, limit: float) -> str:
        return (
            f"{secs(seconds)} (≤ {limit:g} s: {verdict(seconds is not None and seconds <= limit)})"
        )

    rows = []
    for tag, record in doc.items():
        split, builtin, target = (
            record["uncached_split"],
            record["builtin_evaluation"],
            record["targets"],
        )
        rows.append(
            [
                f"`{tag}`",
                f"{record['cpu']}, {record['threads']} threads",
                "hidden"
                if record.get("bf16_hidden")
                else ("yes" if record["bf16_in_hardware"] else "no"),
                split["placement"],
                against(split["first_table_s"], target["first_table_s"]),
                against(split["all_rows_s"], target["all_rows_s"]),
                against(builtin["overview_s"], target["builtin_open_s"]),
                secs(builtin["all_pages_s"]),
            ]
        )
    first = next(iter(doc.values()))["uncached_split"]
    header = [
        "machine",
        "CPU",
        "bf16 in hardware",
        "placement",
        "first table",
        "all rows",
        "built-in evaluation: overview",
        "built-in evaluation: all pages",
    ]
    return f"""## A new user's first run

What a new user waits for, each measured in a fresh process with an empty cache and no
evaluation files (`benchmarks/first_run.py`). *First table* and *all rows*: the dashboard opened
on a FER+ folder holding one uncached split ({first["split"].capitalize()}, {first["faces"]:,}
faces, presented so that no shipped evaluation matches it) with the sidebar's defaults for the
machine (*placement*: which of the MC rows' stochastic layers are sampled); seconds until the
Overview shows its first table row, and until all {first["rows"]} rows are there. *Built-in
evaluation*: the dashboard opened with no FER+ folder, on the shipped evaluation; seconds until
the Overview shows, and until every page has rendered once. Each cell gives its target and
whether it is met. One row per kind of machine (CPU model, and whether it computes bf16 in
hardware), each with the CPU it was measured on; *hidden*: a bf16 CPU told it has none
(`--hide-bf16`), so that it runs what a CPU without bf16 runs (fp32):

{table(header, rows)}"""


def points(x: float) -> str:
    """An accuracy or accuracy difference, in percent with one decimal."""
    return f"{100 * x:.1f}%"


def framing_section(doc: Doc) -> str:
    scales = doc["valid_accuracy_by_scale"]
    keys = list(next(iter(scales.values())))
    scale_rows = [[scale, *(points(row[k]) for k in keys)] for scale, row in scales.items()]
    at_85 = max(scales["1.00"][k] - scales["0.85"][k] for k in keys)
    return f"""{framing_fit_section(doc)}

Valid accuracy (all faces) with FER's framing zoomed: below 1 the crop is tighter (the face
larger), above 1 wider. Largest drop at 0.85 against 1.00: {100 * at_85:.1f} points (target at
most 2: {verdict(at_85 <= 0.02)}).

{table(["scale", *(name(k) for k in keys)], scale_rows)}

{framing_bounds_section(doc)}"""


def framing_fit_section(doc: Doc) -> str:
    fitted, rule, check = doc["fit_on_train"], doc["rule_in_use"], doc["check_on_valid"]
    low, high = fitted["side_per_box_height_p10_p90"]
    rows = [
        [name(key), points(check["accuracy_direct"][key]), points(photo)]
        for key, photo in check["accuracy_photo_path"].items()
    ]
    worst_drop = max(
        check["accuracy_direct"][k] - v for k, v in check["accuracy_photo_path"].items()
    )
    return f"""## The photo path's framing

How a face found in a photo is cut to FER's framing (`bnnfer.faces.framing_square`; rule and
method in [photos.md](photos.md)). Simulated photos are made from FER+ faces (upscaled, set into
a larger canvas at a random place and size), MTCNN runs on them, and the square each face came
from is compared with what the rule cuts. Fitted on {fitted["faces"]} Train faces (MTCNN found
{fitted["detected"]}): the square's side is {fitted["side_per_box_height"]:.3f} times MTCNN's
box height (10th to 90th percentile {low:.2f} to {high:.2f}), its centre offset from the box
centre by {fitted["centre_dy_per_side"]:+.3f} of the side vertically (negative is up) and
{fitted["centre_dx_per_side"]:+.3f} horizontally; the rule in use: {rule["side_per_box_height"]}
times the box height, centre offset {rule["centre_dy_per_side"]:+.2f} of the side vertically.

Checked on {check["faces"]} Valid faces (MTCNN found {check["detected"]}): mean IoU of the re-cut
and original squares **{check["mean_iou"]:.3f}** (10th percentile {check["iou_p10"]:.2f}; target
0.8: {verdict(check["mean_iou"] >= 0.8)}). Each square's own side placed on MTCNN's box centre
would reach {check["mean_iou_exact_side_on_box_centre"]:.3f}: it is the side, the scale, that
the box predicts poorly, not the position. The rule before this fit (the box side times 1.3) reached
{check["mean_iou_earlier_rule"]:.3f}. Accuracy on the same faces, fed directly at 48x48 and
through the photo path (largest drop {100 * max(worst_drop, 0.0):.1f} points; target at most 2:
{verdict(worst_drop <= 0.02)}):

{table(["network", "direct", "photo path"], rows)}"""


def framing_bounds_section(doc: Doc) -> str:
    bounds, check = doc["bounds"], doc["check_on_valid"]
    repeat, ridge, haar = bounds["repeat"], bounds["landmark_rule"], bounds["haar_rule"]
    if "skipped" in haar:
        haar_text = f"not measured ({haar['skipped']})"
    else:
        rows = [
            [name(key), points(check["accuracy_photo_path"][key]), points(value)]
            for key, value in haar["accuracy"].items()
        ]
        haar_text = f"""FER2013 was cut around OpenCV's face detector, so OpenCV's Haar
cascade (`{haar["cascade"]}`) was tried on the same photos: its box nearest MTCNN's, scaled by
{haar["side_per_box_width"]:.3f} (fitted on {haar["fitted_on"]} Train faces), re-cuts the
squares with a mean IoU of **{haar["mean_iou"]:.3f}** ({haar["mean_iou_where_matched"]:.3f} on
the {haar["matched"]} of {haar["detected"]} faces where it found one; MTCNN's rule on the rest).
It comes closest, still short of 0.8. The networks' accuracy on its crops, beside the photo
path's on the same faces:

{table(["network", "photo path (MTCNN)", "Haar cascade"], rows)}"""
    return f"""### Why the IoU stays below 0.8

A square on the right centre whose side is off by a factor r has IoU min(r, 1/r)^2; if log r
has standard deviation sd, the mean IoU is at most exp(2 sd^2) erfc(sqrt(2) sd)
(`framing.iou_cap`). A mean IoU of 0.8 needs sd at most
{bounds["side_sd_allowing_0.8"]:.3f} even with every centre exact.

* **The spread is FER's, per face.** {repeat["detected_twice"]} Valid faces, each placed in two
  simulated photos: log(FER's side / MTCNN's box height) spreads with sd
  {repeat["side_sd_total"]:.3f}, of which MTCNN's own noise between the two photos of a face is
  {repeat["side_sd_mtcnn"]:.3f}; {100 * repeat["per_face_share_of_variance"]:.0f}% of the
  variance is fixed per face ({repeat["side_sd_per_face"]:.3f}), in how FER framed that face
  relative to what MTCNN finds. A rule of constants is capped at
  {repeat["iou_cap_of_total"]:.3f} by it.
* **Landmarks recover little of it.** A ridge regression of the side and centre on MTCNN's box
  and five landmarks (13 shape features; fitted on Train) leaves a side error of sd
  {ridge["side_sd_residual"]:.3f} (from {ridge["side_sd_before"]:.3f}), a cap of
  {ridge["iou_cap_of_residual"]:.3f}, and reaches a mean IoU of {ridge["mean_iou"]:.3f}.
* **FER's own detector.** {haar_text}"""


def cpu_engine_section(doc: Doc) -> str:
    unit, scale = flops_unit(doc)
    rows = [
        [
            name(r["method"]),
            r["precision"],
            str(r["samples"]),
            rate(r["engine_per_s"]),
            rate(r["naive_per_s"]),
            f"**{times(r['speedup'])}**" if r["samples"] == S_TARGETS else times(r["speedup"]),
            times(r["speedup_unfolded"]),
            times(r["flop_bound"]),
            times(r["speedup_at_peak"]) if "speedup_at_peak" in r else "-",
            rate(r["engine_gflops"] / scale),
            pct(r["engine_share_of_peak"]),
            f"{r['engine_peak_mib']:,.0f} MiB",
        ]
        for r in doc["engine_vs_naive"]
    ]
    header = [
        "method",
        "precision",
        "S",
        "engine",
        "naive",
        "speedup",
        "without folding",
        "FLOP bound",
        "at the matmul peak",
        f"engine {unit}",
        "share of matmul peak",
        "peak memory",
    ]
    folded = [r["speedup"] / r["speedup_unfolded"] for r in doc["engine_vs_naive"]]
    return f"""## Speed of MC inference on the CPU

The bench times float32 and, where the hardware computes it (`bnnfer.inference.native_bf16`),
bf16. Large matmul in the same run: {matmul_peaks(doc)}.

### Engine against the naive loop

The naive loop is S full passes of the network as trained (BatchNorm unfolded) over the same
batch of faces; both run the bundled networks with stochastic layers in every block. Rates are
images x samples per second. *Without folding* is the engine on the unfolded layers (trunk
sharing and batching alone); *FLOP bound* is what computing the deterministic trunk once can buy
at equal FLOP efficiency, `S (trunk + rest) / (trunk + S rest)`; *at the matmul peak* is the
most the engine could reach, its FLOP bound run at the matmul peak against the naive loop as
fast as it ran (`FLOP bound x peak / naive {unit}`); *share of matmul peak* is the engine's
{unit} against the same precision's large matmul; peak memory is the process's (models and data
included). The speed-ups at S = {S_TARGETS}, where the targets are set, are in bold.

{measured_on(doc, "mc_inference.json")}

{table(header, rows)}

What the engine does:

* it computes the deterministic trunk (the layers before the first stochastic one) once per
image and shares it between the S samples, which run as batches of passes;
* BatchNorm is folded into the convolutions (the engine against *without folding* above:
{span(folded, times)});
* the convolution weights are channels-last from construction: a `(B, 1, 48, 48)` input is both
layouts at once, so the weights decide, and oneDNN runs every convolution channels-last;
* masks are drawn as `uniform < 1 - p` and applied in place in the draws' buffer, faster than
`bernoulli_` and than a separate mask and select; one CPU generator is one serial stream, so
drawing stays a large part of MC-DropConnect's cost;
* glibc keeps freed memory for reuse ([below](#glibcs-handling-of-freed-memory));
* bf16 where the device computes it in hardware: `precision="auto"` picks it, the dashboard and
`bnnfer predict` use it, `bnnfer evaluate` stays float32 for the reference figures.{bf16_gain(doc)}

{cpu_engine_targets(doc)}"""


def bf16_gain(doc: Doc) -> str:
    gains = [
        b["engine_per_s"] / r["engine_per_s"]
        for r in records(doc, "engine_vs_naive", precision="fp32")
        for b in records(
            doc, "engine_vs_naive", precision="bf16", method=r["method"], samples=r["samples"]
        )
    ]
    return f" Here bf16 runs the engine at {span(gains, times)} its float32 rate." if gains else ""


def cpu_engine_targets(doc: Doc) -> str:
    target, lines = TARGETS["exact_speedup"], []
    exact = records(doc, "engine_vs_naive", samples=S_TARGETS)
    for method in dict.fromkeys(r["method"] for r in exact):
        found = [r for r in exact if r["method"] == method]
        each = ", ".join(f"{times(r['speedup'])} {r['precision']}" for r in found)
        alone = ", ".join(f"{times(r['speedup_unfolded'])} {r['precision']}" for r in found)
        line = (
            f"* exact {name(method)} at S = {S_TARGETS}, {target:g}x the naive loop: "
            f"**{verdict(min(r['speedup'] for r in found) >= target)} ({each})**; trunk sharing "
            f"and batching alone give {alone}, against a FLOP bound of "
            f"{times(found[0]['flop_bound'])}."
        )
        lines.append(line + (dropconnect_notes(doc, found) if method == "mc_dropconnect" else ""))
    for precision in doc["precisions"]:
        share = [
            r["engine_share_of_peak"] for r in records(doc, "engine_vs_naive", precision=precision)
        ]
        if share:
            met = min(share) >= TARGETS["share_of_peak"]
            lines.append(
                f"* {pct(TARGETS['share_of_peak'])} of the matmul peak in {precision}: "
                f"**{verdict(met)} ({span(share, pct)})**."
            )
    notes = []
    if any(r["speedup_unfolded"] > r["flop_bound"] for r in exact):
        notes.append(
            "Where *without folding* beats the FLOP bound, the engine's smaller passes run more "
            "efficiently than the naive loop's."
        )
    if "bf16" in doc["precisions"]:
        notes.append(
            "bf16 speeds up the convolutions far more than the memory-bound pooling, ReLU and mask "
            "drawing, so a share of the much higher bf16 matmul peak is harder to reach."
        )
    return (
        "Against the targets set for the engine:\n\n" + "\n".join(lines) + "\n\n" + " ".join(notes)
    )


def dropconnect_notes(doc: Doc, found: list[dict]) -> str:
    peak = doc["matmul_peak_gflops"]
    naive = ", ".join(
        f"{pct(r['naive_gflops'] / peak[r['precision']])} of the {r['precision']} matmul peak"
        for r in found
    )
    at_peak = ", ".join(
        f"{times(r['speedup_at_peak'])} in {r['precision']}"
        for r in found
        if "speedup_at_peak" in r
    )
    note = (
        " With DropConnect in every block the first convolution is already stochastic: there is "
        "no trunk to share, every sample needs its own full pass, and what is left is folding and "
        f"sharing the rescaled weights. The naive loop already runs at {naive}"
        + (
            f", so an engine at the peak would reach {at_peak} (the *at the matmul peak* column)"
            if at_peak
            else ""
        )
        + "; a profile (torch.profiler) puts most of the engine's time in oneDNN's convolutions."
    )
    others = [
        r for r in records(doc, "engine_vs_naive", method="mc_dropconnect") if "other_layout" in r
    ]
    if others:
        other = others[0]["other_layout"]
        used = "looped" if other == "grouped" else "grouped"
        share = span((r["other_layout_per_s"] / r["engine_per_s"] for r in others), pct)
        note += (
            f" The {other} layout (all S weight samples in one {other} convolution) ran at "
            f"{share} of the {used} layout's speed on this device (the bench times both)."
            if other == "grouped"
            else f" The {other} layout ran at {share} of the {used} layout's speed here."
        )
    return note


def placements_section(doc: Doc) -> str:
    naive = {
        (r["method"], r["precision"]): r["naive_per_s"]
        for r in records(doc, "engine_vs_naive", samples=S_TARGETS)
    }
    rows, vs_naive = [], {}
    for p in doc["placements"]:
        base = naive.get((p["method"], p["precision"]))
        ratio = p["images_per_s"] * p["samples"] / base if base else None
        vs_naive[(p["method"], p["placement"], p["precision"])] = ratio
        rows.append(
            [
                name(p["method"]),
                PLACEMENTS.get(p["placement"], p["placement"]),
                p["precision"],
                rate(p["images_per_s"]),
                times(ratio) if ratio else "-",
                times(p["flop_bound"]),
                f"{p['accuracy']:.3f}",
                f"{p['jsd']:.4f}",
                f"{p['auroc_mi']:.3f}",
            ]
        )
    first = doc["placements"][0]
    header = [
        "method",
        "stochastic layers",
        "precision",
        "faces/s",
        "vs naive",
        "FLOP bound",
        "accuracy",
        "JSD to votes",
        "AUROC (MI)",
    ]
    return f"""### Where the stochastic layers sit

Where the stochastic layers sit sets the cost, and on Valid it hardly moves the quality. Each row
is S = {first["samples"]} on the first {first["images"]:,} Valid faces through `mc_predict`
(after a warm-up), the same trained weights with the earlier stochastic layers at their mean;
*vs naive* is against the naive loop's rate in the table above, *FLOP bound* as there. The
placement is an option wherever the models run: `load_bundle(placement="head")`,
`networks.with_placement(network, "last")`, `--placement` of `bnnfer evaluate` and `bnnfer
predict`, and the dashboard's "MC layers sampled" (each placement has its own cache).

{measured_on(doc, "mc_inference.json")}

{table(header, rows)}

{placement_targets(doc, vs_naive)}"""


def placement_targets(doc: Doc, vs_naive: dict[tuple, float | None]) -> str:
    target, lines = TARGETS["placement_speedup"], []
    for placement in ("head", "last"):
        each = []
        for precision in doc["precisions"]:
            values = [
                v for k, v in vs_naive.items() if k[1:] == (placement, precision) and v is not None
            ]
            if values:
                each.append(
                    f"{verdict(min(values) >= target)} in {precision} ({span(values, times)})"
                )
        if each:
            lines.append(
                f"* {PLACEMENTS[placement]}, {target:g}x the naive loop: **{'; '.join(each)}**."
            )
    text = "Against the targets:\n\n" + "\n".join(lines)
    last = records(doc, "placements", placement="last")
    if not last:
        return text
    bound, samples = last[0]["flop_bound"], last[0]["samples"]
    share = (samples / bound - 1) / (samples - 1)  # solves bound = S / (1 - r + S r) for r
    text += (
        f"\n\nThe last stage holds {pct(share)} of the network's FLOPs (from its FLOP bound), so "
        f"computing the rest once is bound to {times(bound)} at equal efficiency."
    )
    peak = doc["matmul_peak_gflops"]["fp32"]
    estimate = [
        bound * peak / r["naive_gflops"]
        for r in records(doc, "engine_vs_naive", precision="fp32", samples=S_TARGETS)
    ]
    if estimate:
        text += (
            " Against the naive loop's rate, an engine at the float32 matmul peak would reach "
            f"{span(estimate, times)} with the last block + head sampled (the placement rows are "
            "timed apart from the naive loop, so they can land a little above that)."
        )
        if max(estimate) < target:
            text += f" {target:g}x in float32 would need a network with a lighter last stage."
    return text


def end_to_end_table(doc: Doc) -> str:
    rows = [
        [
            e["precision"],
            secs(e["one_face_all_methods_s"]),
            secs(e["split_all_methods_s"]),
            secs(e["split_from_cache_s"]),
        ]
        for e in doc["end_to_end"]
    ]
    faces = doc["end_to_end"][0]["split_images"]
    return table(
        ["precision", "one face", f"whole Valid split ({faces:,} faces)", "again, from the cache"],
        rows,
    )


def end_to_end_section(doc: Doc) -> str:
    lines = []
    for key, label, limit in (
        ("one_face_all_methods_s", "one face, all rows", TARGETS["one_face_s"]),
        ("split_all_methods_s", "the whole split, all rows", TARGETS["split_s"]),
    ):
        each = "; ".join(
            f"{verdict(e[key] <= limit)} in {e['precision']} ({secs(e[key])})"
            for e in doc["end_to_end"]
        )
        lines.append(f"* {label}, under {limit:g} s: **{each}**.")
    auto = "bf16" if "bf16" in doc["precisions"] else "float32"
    rows = len(doc["end_to_end"][0]["rows"])
    return f"""### End to end

All {rows} rows of the comparison, S = {S_TARGETS}. *One face*: the median of repeated runs after
a warm-up, face detection excluded. *Whole Valid split*: timed the way the dashboard gets it
(`store.get_predictions` into an empty cache, with per-batch progress for its progress bar);
*again*: the same call, served from the cache. Loading Valid from bnnfer's cache took
{secs(doc["load_valid_from_cache_s"])}.

{measured_on(doc, "mc_inference.json")}

{end_to_end_table(doc)}

Against the targets:

{chr(10).join(lines)}

The dashboard runs {auto} on this device (`precision="auto"`)."""


def compile_table(doc: Doc) -> str:
    rows = [
        [
            name(c["method"]),
            f"{c['images']:,}",
            str(c["samples"]),
            secs(c["compile_first_call_s"]),
            secs(c["eager_s"]),
            secs(c["compiled_s"]),
            times(c["compiled_speedup"]),
            "yes" if c["fell_back"] else "no",
        ]
        for c in doc["compile"]
    ]
    header = [
        "method",
        "faces",
        "S",
        "first call (compiling)",
        "eager",
        "compiled",
        "compiled vs eager",
        "fell back to eager",
    ]
    return table(header, rows)


def compile_section(doc: Doc) -> str:
    return f"""### torch.compile

`--compile` times each MC row's sampling under `torch.compile` against eager on the same faces:
the first call (which compiles), then each after a warm-up. Dynamo recompiles the mask drawing
for each new shape. Compiling stays off by default.

{measured_on(doc, "mc_inference.json")}

{compile_table(doc)}"""


def allocator_section(doc: Doc) -> str:
    rows = [
        [
            r["precision"],
            str(r["batch"]),
            rate(r["default_per_s"]),
            rate(r["kept_per_s"]),
            times(r["ratio"]),
        ]
        for r in doc["records"]
    ]
    header = ["precision", "batch", "glibc's default (faces/s)", "freed memory kept", "ratio"]
    return f"""## glibc's handling of freed memory

`benchmarks/allocator.py` times the same deterministic passes of a bundled network in a fresh
process with glibc's defaults and in one after `bnnfer.keep_freed_memory()`. A pass's large
activations (a `(128, 32, 48, 48)` float32 tensor, say) lie above glibc's mmap threshold, so
with the defaults each pass unmaps them and page-faults them in again; `keep_freed_memory()`
raises the thresholds. The CLI and the dashboard call it; the library never does on import.

{from_file("allocator.json")}

{table(header, rows)}"""


def settings_key(record: dict) -> str:
    return f"{record['layout']} {record['max_rows'] or ''}".strip()


def settings_tables(doc: Doc) -> str:
    """One table per method: a row per (precision, batch), a column per setting timed."""
    parts = []
    for method in dict.fromkeys(r["method"] for r in doc["records"]):
        mine = records(doc, "records", method=method)
        settings = list(dict.fromkeys(settings_key(r) for r in mine))
        cells: dict[tuple, dict[str, str]] = {}
        for r in mine:
            cell = f"{rate(r['per_s'])} ({pct(r['share_of_fastest'])})"
            by_setting = cells.setdefault((r["precision"], r["batch"]), {})
            by_setting[settings_key(r)] = f"**{cell}**" if r["default"] else cell
        rows = [
            [precision, f"{batch:,}", *(by.get(s, "-") for s in settings)]
            for (precision, batch), by in cells.items()
        ]
        header = ["precision", "batch", *(f"{s} rows" if s[-1].isdigit() else s for s in settings)]
        parts.append(f"{name(method)}:\n\n{table(header, rows)}")
    return "\n\n".join(parts)


def settings_rules(doc: Doc) -> str:
    default = [r for r in doc["records"] if r["default"]]
    sizes = sorted({r["max_rows"] for r in default if r["max_rows"]})
    lines = []
    if sizes:
        closest = min(r["share_of_fastest"] for r in default if r["max_rows"])
        lines.append(
            f"* passes of {listing([f'{n:,}' for n in sizes])} rows (`bnnfer.engine.MAX_ROWS`) "
            f"came within {pct(1 - closest)} of the fastest pass size measured, wherever they are "
            "used;"
        )
    layouts: dict[str, list[int]] = {}
    for r in records(doc, "records", method="mc_dropconnect", default=True):
        layouts.setdefault(r["layout"], [])
        if r["batch"] not in layouts[r["layout"]]:
            layouts[r["layout"]].append(r["batch"])
    if layouts:
        each = [
            f"{layout} for {listing([f'{b:,}' for b in sorted(bs)])}"
            for layout, bs in layouts.items()
        ]
        lines.append(
            f"* DropConnect runs {' and '.join(each)} images a batch "
            "(`bnnfer.engine.dropconnect_layout`);"
        )
    ratios = []
    for batch in sorted({r["batch"] for r in doc["records"]}):
        each = []
        for precision in dict.fromkeys(r["precision"] for r in doc["records"]):
            mine = records(
                doc, "records", method="mc_dropconnect", batch=batch, precision=precision
            )
            grouped = [r["per_s"] for r in mine if r["layout"] == "grouped"]
            looped = [r["per_s"] for r in mine if r["layout"] == "looped"]
            if grouped and looped:
                each.append(max(grouped) / looped[0])
        if each:
            ratios.append(f"{span(each, times)} for {batch:,}")
    if ratios:
        lines.append(
            "* grouped DropConnect at its best pass size ran at "
            f"{listing(ratios)} images a batch, against looped."
        )
    if not lines:
        return ""
    return "What this run sets, with the defaults in bold above:\n\n" + "\n".join(lines)


def engine_settings_section(doc: Doc, file: str, heading: str) -> str:
    return f"""{heading}

`benchmarks/engine_settings.py` times, at S = {doc["records"][0]["samples"]}, each pass size
(images x samples per forward pass, `bnnfer.engine.MAX_ROWS`: it bounds activation memory, and
small passes keep a pass's activations in cache) and, for DropConnect, both layouts: *grouped*
stacks all S masked weights into grouped convolutions and batched matrix products, *looped* runs
the rest of the network once per weight sample. Each cell is images x samples per second and its
share of the fastest setting for that batch; the engine's default is in bold. These runs set the
engine's per-device defaults.

{measured_on(doc, file)}

{settings_tables(doc)}

{settings_rules(doc)}"""


def cpu_settings_section(doc: Doc) -> str:
    return engine_settings_section(
        doc, "engine_settings-cpu.json", "## The engine's settings (CPU)"
    )


def gpu_settings_section(doc: Doc) -> str:
    return engine_settings_section(
        doc, "engine_settings-cuda.json", "### The engine's settings on the GPU"
    )


def video_section(doc: Doc) -> str:
    clip, target = doc["clip"], doc["target_s"]
    rows = []
    for r in doc["runs"]:
        t = r["seconds"]
        parts = ("load_models", "decode", "detect", "infer")
        rows.append(
            [
                str(r["threads"]),
                f"{r['load_average_before'][0]:.1f}",
                *(secs(t[part]) for part in parts),
                secs(max(0.0, t["total"] - sum(t[part] for part in parts))),
                f"**{secs(t['total'])}** (< {target:g} s: {verdict(t['total'] < target)})",
            ]
        )
    header = [
        "threads",
        "load average before",
        "loading the models",
        "decoding",
        "finding faces",
        "the models",
        "other",
        "total",
    ]
    first = doc["runs"][0]
    share = first["seconds"]["detect"] / first["seconds"]["total"]
    return f"""## A video end to end

`benchmarks/video.py` makes a {clip["seconds"]}-second {clip["size"][0]}x{clip["size"][1]} clip
({clip["encoded_fps"]} frames/s, H.264, {clip["mib"]} MiB) of the astronaut's head drifting
across the frame, samples it at {doc["sampled_fps"]:g} frames per second
({first["sampled_frames"]} frames, {first["tracks"]} track) and runs all {first["rows"]} rows
at S = {doc["samples"]} on every face with the sidebar's default placement for this CPU
({PLACEMENTS[doc["placement"]]}; bf16 in hardware: {"yes" if doc["bf16_in_hardware"] else "no"}):
what the "Your video" page does, loading the models included (`bnnfer.video.predict_video`;
[video.md](video.md)). *Finding faces* is MTCNN, eight frames per call, and the tracking;
*decoding* includes converting the sampled frames to RGB; *other* is the rest (opening the
file, setting up MTCNN the first time in a process, the table). The machine's load average
(1 minute, {doc["machine"]["cpus"]} CPUs) tells whether other work shared the CPU; it decays
over minutes, so it also trails work stopped just before the run. Finding faces took
{pct(share)} of the first run.

{measured_on(doc, "video.json")}

{table(header, rows)}"""


def page_render_section(doc: Doc) -> str:
    rows = [
        [p["page"], secs(p["first_s"]), secs(p["cached_s"]), "; ".join(p["errors"]) or "none"]
        for p in doc
    ]
    return f"""## Dashboard render times

`benchmarks/page_render.py` runs each page under Streamlit's AppTest once predictions are
cached: *first run* is a fresh session's first render (the Overview's loads the models and the
split), *cached* the best of the next runs.

{from_file("page_render.json")}

{table(["page", "first run", "cached", "errors"], rows)}"""


def load_rows(record: dict) -> list[list[str]]:
    one = next((r for r in record["runs"] if r["tabs"] == 1), None)

    def ratio(value: float | None, single: float | None) -> str:
        return times(value / single) if value is not None and single else "-"

    rows = []
    for run in record["runs"]:
        rows_s = [t for t in run["all_rows_s"] if t is not None]
        photo = run["photo"]
        rows.append(
            [
                str(run["tabs"]),
                secs(run["overview_cpu_s"]),
                ratio(run["overview_cpu_s"], one and one["overview_cpu_s"]),
                f"{secs(min(rows_s, default=None))} / {secs(run['all_rows_worst_s'])}",
                f"{secs(photo['median_s'])} / {secs(photo['worst_s'])}",
                ratio(photo["worst_s"], one and one["photo"]["worst_s"]),
                str(photo["tabs_shown_a_place_in_line"]),
                f"{run['exceptions']} / {run['tracebacks']}",
            ]
        )
    return rows


def load_verdicts(record: dict) -> str:
    found, targets = record["ratios"], record["targets"]
    said = []
    for key, what in (
        ("cpu_ratio_4", "server CPU with 4 tabs"),
        ("cpu_ratio_8", "with 8 tabs"),
        ("photo_worst_ratio_4", "worst photo latency of 4 uploads"),
    ):
        if key in found:
            met = found[key] <= targets[key]
            said.append(
                f"{what} ≤ {targets[key]:g}x one's: **{verdict(met)} ({times(found[key])})**"
            )
    clean = all(r["exceptions"] == 0 and r["tracebacks"] == 0 for r in record["runs"])
    said.append(f"no exception and no traceback: **{verdict(clean)}**")
    return "; ".join(said)


def load_profile(record: dict) -> str:
    profiled = [r for r in record["runs"] if "profile" in r]
    if not profiled:
        return ""
    shown = [profiled[0], profiled[-1]] if len(profiled) > 1 else profiled
    rows = []
    for run in shown:
        for function, share in run["profile"]["self"][:6]:
            rows.append([str(run["tabs"]), f"`{function}`", pct(share)])
    return f"""Where the server's busy threads were (py-spy, 50 samples a second; share of
the samples in which a thread was running, by the function on top of its stack; some waits py-spy
counts as running: `Condition.wait`, `select`, the poller of Streamlit's secrets files):

{table(["tabs", "function", "share"], rows)}"""


def load_section(doc: Doc) -> str:
    parts = []
    for label, record in doc.items():
        faces = f"its first {record['faces']:,} faces" if record.get("faces") else "all its faces"
        began, ended = record["load_average_before"][0], record["load_average_after"][0]
        parts.append(
            f"""### {label.capitalize()} (commit {record["commit"]})

{record["cpu"]} (bf16 in hardware: {"yes" if record["bf16_in_hardware"] else "no"}),
{record["cores"]} cores, torch on {record["torch_threads"]} threads, FER+
{record["split"].capitalize()} ({faces}); the machine was shared with other work (load average
{began:.1f} when the run began, {ended:.1f} when it ended, on {record["cores"]} cores).

{table(HEADER_LOAD, load_rows(record))}

Targets: {load_verdicts(record)}.

{load_profile(record)}""".rstrip()
        )
    joined = "\n\n".join(parts)
    return f"""## Many sessions at once

What N browser tabs opened together cost the dashboard's server (`benchmarks/load.py`): for each
N, a fresh `streamlit run app.py` on an uncached split (presented so that no shipped evaluation
matches it) with an empty cache; N Chromium tabs open the Overview at once and wait for every
row, then upload a six-face photo at once (each tab its own bytes, after one warm-up upload).
*Server CPU*: user + system seconds of the server process and all its threads while the Overview
filled (`/proc`), the figure the targets are set on, since wall times move with whatever else
the machine runs, the browsers among it. *Every row*: seconds until the first and the last tab
showed every row. *Photo*: median and worst seconds from the uploads to the last face's
reading; *in line*: tabs shown their place in the photo queue. *Errors*: exceptions the pages
showed / tracebacks in the server's log.

{joined}"""


HEADER_LOAD = [
    "tabs",
    "server CPU",
    "x one tab",
    "every row: first / last tab",
    "photo: median / worst",
    "worst x one upload",
    "in line",
    "errors",
]


def train_workers_section(doc: Doc) -> str:
    layouts = doc["layouts"]
    rows = [
        [
            name,
            f"{layout['processes']} x {layout['threads_each']}",
            " + ".join(rate(r) for r in layout["images_per_s_each"]),
            rate(layout["images_per_s"]),
        ]
        for name, layout in layouts.items()
    ]
    bundle = doc["bundle"]
    epochs = bundle["epochs"]  # each network's, in train-all's order

    def hours(layout: dict) -> float:
        # each process trains its share of the networks one after the other, at its own rate;
        # the shares are train-all's (`bnnfer.bundle.share_jobs`, longest jobs first)
        processes = layout["processes"]
        busiest = max(processes_epochs(epochs, processes))
        each = layout["images_per_s"] / processes
        return busiest * bundle["train_faces"] / each / 3600

    one, per_core = layouts["one process"], layouts["one per core"]
    bf16 = "yes" if doc["bf16_in_hardware"] else "no"
    return f"""## Training on the CPU

`benchmarks/train_workers.py` runs the real training loop (the bundle's network and recipe,
augmentation on, {doc["precision"]}; bf16 in hardware: {bf16}) on synthetic faces, {doc["steps"]}
steps of {doc["batch_size"]} in each process: one process with {doc["cores"]} threads, then
{doc["cores"]} single-threaded processes started together. Small convolutions scale poorly
over threads.

{measured_on(doc, "train_workers.json")}

{table(["layout", "processes x threads", "images/s per process", "images/s in all"], rows)}

One single-threaded process per core trains **{times(doc["per_core_over_one"])}** as many images
per second as one process with every thread, so `bnnfer train-all` runs one per core by default
(`--workers` sets the number). At these rates the bundle's {len(epochs)} networks
({" + ".join(map(str, epochs))} = {sum(epochs)} epochs over {bundle["train_faces"]:,} faces) take
about {hours(one):.1f} h in one process and **{hours(per_core):.1f} h** one per core (8 h asked
for)."""


def processes_epochs(epochs: list[int], processes: int) -> list[int]:
    """Epochs each of ``processes`` trains when train-all deals out networks of ``epochs``."""
    from bnnfer.training.bundle import Job, share_jobs
    from bnnfer.training.train import TrainConfig

    jobs = [Job(str(i), TrainConfig(epochs=e)) for i, e in enumerate(epochs)]
    return [sum(j.config.epochs for j in share) for share in share_jobs(jobs, processes)]


def width_budget_section(doc: Doc) -> str:
    budget = doc["budget"]
    records = doc["records"]
    precisions = [p for p in ("fp32", "bf16") if any(f"one_face_s_{p}" in r for r in records)]
    base = next(r for r in records if r["multiplier"] == 1.0)
    rows = []
    for r in doc["records"]:
        rows.append(
            [
                f"{r['multiplier']:g}x",
                "-".join(str(w) for w in r["widths"]),
                f"{r['parameters'] / 1e6:.2f}M",
                f"{r['bundle_mb_fp16']:.0f} MB",
                times(r["flops_per_face"] / base["flops_per_face"]),
                *(secs(r[f"one_face_s_{p}"]) for p in precisions),
            ]
        )
    header = ["width", "channels", "parameters", "bundle (fp16)", "multiply-adds"]
    header += [f"one face, all rows ({p})" for p in precisions]

    def widest(fits) -> str:
        ok = [r for r in doc["records"] if fits(r)]
        return f"{max(r['multiplier'] for r in ok):g}x" if ok else "none measured"

    time_key = "one_face_s_bf16" if doc["bf16_in_hardware"] else "one_face_s_fp32"
    time_budget = budget[time_key]
    fits_time = widest(lambda r: r[time_key] <= time_budget)
    fits_size = widest(lambda r: r["bundle_mb_fp16"] <= budget["bundle_mb"])
    where = "with bf16 in hardware" if doc["bf16_in_hardware"] else "without bf16 in hardware"
    return f"""## How wide the network may grow

`benchmarks/width_budget.py` scales every stage and the head of the bundle's network, builds the
{len(doc["rows"])} rows from untrained networks of each shape (timing does not depend on the
weights) and times one face through all of them at S = {doc["samples"]}; *multiply-adds* are per
face, against today's width, and training time grows with them.

{measured_on(doc, "width_budget.json")}

{table(header, rows)}

Widest within the one-face budget on this CPU ({where}, {secs(time_budget)}): **{fits_time}**;
within the {budget["bundle_mb"]} MB bundle: **{fits_size}**."""


def gpu_intro_section(doc: Doc) -> str:
    tf32 = (
        " cuDNN runs float32 convolutions in TF32 unless told otherwise (torch's default), so the "
        "fp32 rows are compared with a TF32 product."
        if doc.get("fp32_peak_is_tf32")
        else ""
    )
    return f"""## On a GPU

`benchmarks/cuda.sh FERPLUS_FOLDER OUT_FOLDER` runs the CUDA tests and the GPU benchmarks below
in one go; it needs only torch and the packages bnnfer's core imports. The CUDA tests
(`tests/test_engine_cuda.py` and `mc_predict`'s device copy) check that both DropConnect layouts
give the samples of separate passes for the same seed, that bf16 agrees with float32, and that
the GPU and the CPU give the same predictive distribution.

{measured_on(doc, "mc_inference-cuda.json")} Large matmul in the same run: {matmul_peaks(doc)}.
{tf32}"""


def gpu_engine_section(small: Doc, large: Doc) -> str:
    unit, scale = flops_unit(small)
    picked = [
        r for doc in (small, large) for r in records(doc, "engine_vs_naive", samples=S_TARGETS)
    ]
    rows = [
        [
            name(r["method"]),
            r["precision"],
            f"{r['batch']:,}",
            rate(r["engine_per_s"]),
            rate(r["naive_per_s"]),
            times(r["speedup"]),
            times(r["flop_bound"]),
            rate(r["engine_gflops"] / scale),
            pct(r["engine_share_of_peak"]),
            f"{r['other_layout']}: {times(r['other_layout_per_s'] / r['naive_per_s'])}"
            if "other_layout" in r
            else "-",
        ]
        for r in picked
    ]
    header = [
        "method",
        "precision",
        "batch",
        "engine",
        "naive",
        "speedup",
        "FLOP bound",
        f"engine {unit}",
        "share of matmul peak",
        "other layout",
    ]
    target, verdicts = TARGETS["exact_speedup"], []
    for batch in dict.fromkeys(r["batch"] for r in picked):
        each = []
        for method in dict.fromkeys(r["method"] for r in picked):
            found = [r for r in picked if r["batch"] == batch and r["method"] == method]
            if not found:
                continue
            met = min(r["speedup"] for r in found) >= target
            values = ", ".join(f"{times(r['speedup'])} {r['precision']}" for r in found)
            each.append(f"{name(method)} {verdict(met)} ({values})")
        verdicts.append(f"at {batch:,} faces {', '.join(each)}")
    share = [r["engine_share_of_peak"] for r in picked]
    batches = listing([f"{b:,}" for b in dict.fromkeys(r["batch"] for r in picked)])
    return f"""### Engine against the naive loop on the GPU

S = {S_TARGETS}, at {batches} faces a batch; the columns as on the CPU. *Other layout* is the
DropConnect layout the engine did not pick for that batch, at its rate against the naive loop.

{measured_on(small, "mc_inference-cuda.json")} Batch {large["engine_vs_naive"][0]["batch"]:,}:
`benchmarks/results/mc_inference-cuda-batch1024.json`, same machine.

{table(header, rows)}

* With few faces a batch the naive loop's passes are too small to fill the GPU and are bound by
kernel launches, so batching the samples can pay beyond the FLOP bound, DropConnect included;
with many, each pass fills the GPU by itself and the speed-ups approach the FLOP bound.
* Exact MC, {target:g}x the naive loop: {"; ".join(verdicts)}.
* Share of the matmul peak: {span(share, pct)}, so the {pct(TARGETS["share_of_peak"])} target
is **{verdict(min(share) >= TARGETS["share_of_peak"])}** on the GPU. This network's convolutions
are small, far from a large matrix product."""


def cpu_bf16_end_to_end_section(doc: Doc) -> str:
    rows = len(doc["end_to_end"][0]["rows"])
    limit = TARGETS["one_face_bf16_cpu_s"]
    bf16 = next((e for e in doc["end_to_end"] if e["precision"] == "bf16"), None)
    verdicts = (
        "not measured in bf16"
        if bf16 is None
        else f"{verdict(bf16['one_face_all_methods_s'] <= limit)} in bf16 "
        f"({secs(bf16['one_face_all_methods_s'])})"
    )
    return f"""### End to end on a CPU with AVX-512 BF16

All {rows} rows, S = {S_TARGETS}, every block sampled as trained, timed as above, on a CPU that
computes bf16 in hardware through its AVX-512 BF16 instructions, without AMX:
`bnnfer.inference.native_bf16` holds, so `precision="auto"` runs bf16 there. bf16 halves the
time, but the whole split with every block stays far above a first run's budget, which is why the
dashboard starts uncached splits head-only on any CPU (the first run above).

{measured_on(doc, "mc_inference-cpu-bf16.json")}

{end_to_end_table(doc)}

* one face, all rows, under {limit:g} s on a CPU with bf16 in hardware: **{verdicts}**."""


def gpu_end_to_end_section(doc: Doc) -> str:
    rows = len(doc["end_to_end"][0]["rows"])
    return f"""### End to end on the GPU

All {rows} rows, S = {S_TARGETS}, timed as on the CPU, through the dashboard's store.

{measured_on(doc, "mc_inference-cuda.json")}

{end_to_end_table(doc)}"""


def gpu_compile_section(doc: Doc) -> str:
    return f"""### torch.compile on the GPU

Timed as on the CPU; compiling stays off by default on the GPU too.

{measured_on(doc, "compile-cuda.json")}

{compile_table(doc)}"""


# ---- the page ---------------------------------------------------------------------------------

# (title, the results files it needs, the function rendering it from them), in page order
SECTIONS: list[tuple[str, tuple[str, ...], Callable[..., str]]] = [
    ("A new user's first run", ("first_run.json",), first_run_section),
    ("Speed of MC inference on the CPU", ("mc_inference.json",), cpu_engine_section),
    ("Where the stochastic layers sit", ("mc_inference.json",), placements_section),
    ("End to end", ("mc_inference.json",), end_to_end_section),
    (
        "End to end on a CPU with AVX-512 BF16",
        ("mc_inference-cpu-bf16.json",),
        cpu_bf16_end_to_end_section,
    ),
    ("torch.compile", ("mc_inference.json",), compile_section),
    ("glibc's handling of freed memory", ("allocator.json",), allocator_section),
    ("The photo path's framing", ("framing.json",), framing_section),
    ("The engine's settings (CPU)", ("engine_settings-cpu.json",), cpu_settings_section),
    ("A video end to end", ("video.json",), video_section),
    ("Dashboard render times", ("page_render.json",), page_render_section),
    ("Many sessions at once", ("load.json",), load_section),
    ("Training on the CPU", ("train_workers.json",), train_workers_section),
    ("How wide the network may grow", ("width_budget.json",), width_budget_section),
    ("On a GPU", ("mc_inference-cuda.json",), gpu_intro_section),
    (
        "Engine against the naive loop on the GPU",
        ("mc_inference-cuda.json", "mc_inference-cuda-batch1024.json"),
        gpu_engine_section,
    ),
    ("End to end on the GPU", ("mc_inference-cuda.json",), gpu_end_to_end_section),
    ("The engine's settings on the GPU", ("engine_settings-cuda.json",), gpu_settings_section),
    ("torch.compile on the GPU", ("compile-cuda.json",), gpu_compile_section),
]

INTRO = """# Benchmarks

Speed and memory of bnnfer's MC inference and of the dashboard. This page is rendered by
`python benchmarks/render_docs.py` from `benchmarks/results/*.json`: change the script, not this
file, and rerun it after rerunning a benchmark."""


def render(results: Path) -> str:
    """docs/benchmarks.md's text, from the JSON files in ``results``."""
    parts = [INTRO, rerun_section()]
    for title, files, section in SECTIONS:
        missing = [f for f in files if not (results / f).is_file()]
        if missing:
            parts.append(f"*{title}: left out, no {listing([f'`{f}`' for f in missing])}.*")
            continue
        parts.append(section(*(json.loads((results / f).read_text()) for f in files)))
    return "\n\n".join(reflow(part) for part in parts) + "\n"


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
