"""The contexts of docs/benchmarks.md's sections on the MC engine: its speed against the naive
loop, where the stochastic layers sit, end to end, `torch.compile`, glibc's freed memory and the
engine's settings, on the CPU and on a GPU (benchmarks/mc_inference.py, engine_settings.py,
allocator.py, cuda.sh), with the targets the page judges them against.

Each context function takes its section's results files, parsed, and returns the fields its
template in benchmarks/templates/ shows; benchmarks/render_docs.py registers them.
"""

from __future__ import annotations

from docs_format import (
    Context,
    Doc,
    flops_unit,
    label,
    listing,
    matmul_peaks,
    pct,
    placement,
    rate,
    records,
    secs,
    span,
    times,
    yes_no,
)

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


def cpu_engine(doc: Doc) -> Context:
    unit, scale = flops_unit(doc)
    rows = [
        [
            label(r["method"]),
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
    gains = [
        b["engine_per_s"] / r["engine_per_s"]
        for r in records(doc, "engine_vs_naive", precision="fp32")
        for b in records(
            doc, "engine_vs_naive", precision="bf16", method=r["method"], samples=r["samples"]
        )
    ]
    exact = records(doc, "engine_vs_naive", samples=S_TARGETS)
    methods = []
    for method in dict.fromkeys(r["method"] for r in exact):
        found = [r for r in exact if r["method"] == method]
        methods.append(
            {
                "method": method,
                "met": min(r["speedup"] for r in found) >= TARGETS["exact_speedup"],
                "each": ", ".join(f"{times(r['speedup'])} {r['precision']}" for r in found),
                "alone": ", ".join(
                    f"{times(r['speedup_unfolded'])} {r['precision']}" for r in found
                ),
                "flop_bound": found[0]["flop_bound"],
                "dropconnect": dropconnect(doc, found) if method == "mc_dropconnect" else None,
            }
        )
    shares = []
    for precision in doc["precisions"]:
        share = [
            r["engine_share_of_peak"] for r in records(doc, "engine_vs_naive", precision=precision)
        ]
        if share:
            met = min(share) >= TARGETS["share_of_peak"]
            shares.append({"precision": precision, "met": met, "span": span(share, pct)})
    folded = [r["speedup"] / r["speedup_unfolded"] for r in doc["engine_vs_naive"]]
    return {
        "machine": doc["machine"],
        "peaks": matmul_peaks(doc),
        "unit": unit,
        "S": S_TARGETS,
        "rows": rows,
        "folded": span(folded, times),
        "bf16_gain": span(gains, times) if gains else None,
        "target": TARGETS["exact_speedup"],
        "exact": methods,
        "share_target": TARGETS["share_of_peak"],
        "shares": shares,
        "faster_unfolded": any(r["speedup_unfolded"] > r["flop_bound"] for r in exact),
        "precisions": doc["precisions"],
    }


def dropconnect(doc: Doc, found: list[dict]) -> Context:
    """What the page says of exact MC-DropConnect: where its naive loop runs, what an engine at
    the peak would reach, and how the layout the engine did not pick ran."""
    peak = doc["matmul_peak_gflops"]
    others = [
        r for r in records(doc, "engine_vs_naive", method="mc_dropconnect") if "other_layout" in r
    ]
    other = others[0]["other_layout"] if others else None
    return {
        "naive": ", ".join(
            f"{pct(r['naive_gflops'] / peak[r['precision']])} of the {r['precision']} matmul peak"
            for r in found
        ),
        "at_peak": ", ".join(
            f"{times(r['speedup_at_peak'])} in {r['precision']}"
            for r in found
            if "speedup_at_peak" in r
        ),
        "other": other,
        "used": "looped" if other == "grouped" else "grouped",
        "share": span((r["other_layout_per_s"] / r["engine_per_s"] for r in others), pct)
        if others
        else None,
    }


def placements(doc: Doc) -> Context:
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
                label(p["method"]),
                placement(p["placement"]),
                p["precision"],
                rate(p["images_per_s"]),
                times(ratio) if ratio else "-",
                times(p["flop_bound"]),
                f"{p['accuracy']:.3f}",
                f"{p['jsd']:.4f}",
                f"{p['auroc_mi']:.3f}",
            ]
        )
    target, verdicts = TARGETS["placement_speedup"], []
    for where in ("head", "last"):
        each = []
        for precision in doc["precisions"]:
            values = [
                v for k, v in vs_naive.items() if k[1:] == (where, precision) and v is not None
            ]
            if values:
                met = min(values) >= target
                each.append({"precision": precision, "met": met, "span": span(values, times)})
        if each:
            verdicts.append({"placement": where, "precisions": each})
    return {
        "machine": doc["machine"],
        "first": doc["placements"][0],
        "rows": rows,
        "target": target,
        "verdicts": verdicts,
        "last": last_stage(doc, target),
    }


def last_stage(doc: Doc, target: float) -> Context | None:
    """The last stage's share of the FLOPs, from the FLOP bound of sampling only it, and the
    speed-up an engine at the float32 matmul peak would reach with it; None if not timed."""
    last = records(doc, "placements", placement="last")
    if not last:
        return None
    bound, samples = last[0]["flop_bound"], last[0]["samples"]
    peak = doc["matmul_peak_gflops"]["fp32"]
    estimate = [
        bound * peak / r["naive_gflops"]
        for r in records(doc, "engine_vs_naive", precision="fp32", samples=S_TARGETS)
    ]
    return {
        "share": (samples / bound - 1) / (samples - 1),  # solves bound = S / (1 - r + S r) for r
        "bound": bound,
        "estimate": span(estimate, times) if estimate else None,
        "short": bool(estimate) and max(estimate) < target,
    }


def timings(doc: Doc) -> Context:
    """The end-to-end table's rows and the split's size, for the three end-to-end sections."""
    rows = [
        [
            e["precision"],
            secs(e["one_face_all_methods_s"]),
            secs(e["split_all_methods_s"]),
            secs(e["split_from_cache_s"]),
        ]
        for e in doc["end_to_end"]
    ]
    return {
        "machine": doc["machine"],
        "S": S_TARGETS,
        "rows": len(doc["end_to_end"][0]["rows"]),
        "timings": rows,
        "faces": doc["end_to_end"][0]["split_images"],
    }


def end_to_end(doc: Doc) -> Context:
    def judged(key: str, limit: float) -> Context:
        each = [
            {"precision": e["precision"], "seconds": e[key], "met": e[key] <= limit}
            for e in doc["end_to_end"]
        ]
        return {"limit": limit, "each": each}

    return {
        **timings(doc),
        "load_s": doc["load_valid_from_cache_s"],
        "one_face": judged("one_face_all_methods_s", TARGETS["one_face_s"]),
        "split": judged("split_all_methods_s", TARGETS["split_s"]),
        "precisions": doc["precisions"],
    }


def cpu_bf16_end_to_end(doc: Doc) -> Context:
    bf16 = next((e for e in doc["end_to_end"] if e["precision"] == "bf16"), None)
    return {
        **timings(doc),
        "limit": TARGETS["one_face_bf16_cpu_s"],
        "bf16_s": None if bf16 is None else bf16["one_face_all_methods_s"],
    }


def compile_rows(doc: Doc) -> Context:
    rows = [
        [
            label(c["method"]),
            f"{c['images']:,}",
            str(c["samples"]),
            secs(c["compile_first_call_s"]),
            secs(c["eager_s"]),
            secs(c["compiled_s"]),
            times(c["compiled_speedup"]),
            yes_no(c["fell_back"]),
        ]
        for c in doc["compile"]
    ]
    return {"machine": doc["machine"], "rows": rows}


def allocator(doc: Doc) -> Context:
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
    return {"rows": rows}


def engine_settings(doc: Doc, file: str, heading: str) -> Context:
    """The engine-settings template's fields: one table per method, a row per (precision,
    batch), a column per setting timed; and what the run sets."""
    methods = []
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
        header = [f"{s} rows" if s[-1].isdigit() else s for s in settings]
        methods.append({"method": method, "settings": header, "rows": rows})
    default = [r for r in doc["records"] if r["default"]]
    sizes = sorted({r["max_rows"] for r in default if r["max_rows"]})
    layouts: dict[str, list[int]] = {}
    for r in records(doc, "records", method="mc_dropconnect", default=True):
        layouts.setdefault(r["layout"], [])
        if r["batch"] not in layouts[r["layout"]]:
            layouts[r["layout"]].append(r["batch"])
    return {
        "heading": heading,
        "file": file,
        "machine": doc["machine"],
        "samples": doc["records"][0]["samples"],
        "methods": methods,
        "pass_sizes": [f"{n:,}" for n in sizes],
        "pass_sizes_off": 1
        - min((r["share_of_fastest"] for r in default if r["max_rows"]), default=1),
        "layouts": [
            f"{layout} for {listing([f'{b:,}' for b in sorted(batches)])}"
            for layout, batches in layouts.items()
        ],
        "grouped": grouped_against_looped(doc),
    }


def settings_key(record: dict) -> str:
    return f"{record['layout']} {record['max_rows'] or ''}".strip()


def grouped_against_looped(doc: Doc) -> list[str]:
    """Grouped DropConnect's best rate against looped's, per batch: ``"1.20x for 64"``."""
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
    return ratios


def cpu_settings(doc: Doc) -> Context:
    return engine_settings(doc, "engine_settings-cpu.json", "## The engine's settings (CPU)")


def gpu_settings(doc: Doc) -> Context:
    return engine_settings(doc, "engine_settings-cuda.json", "### The engine's settings on the GPU")


def gpu_intro(doc: Doc) -> Context:
    return {
        "machine": doc["machine"],
        "peaks": matmul_peaks(doc),
        "tf32": bool(doc.get("fp32_peak_is_tf32")),
    }


def gpu_engine(small: Doc, large: Doc) -> Context:
    unit, scale = flops_unit(small)
    picked = [
        r for doc in (small, large) for r in records(doc, "engine_vs_naive", samples=S_TARGETS)
    ]
    rows = [
        [
            label(r["method"]),
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
    target, verdicts = TARGETS["exact_speedup"], []
    batches = list(dict.fromkeys(r["batch"] for r in picked))
    for batch in batches:
        methods = []
        for method in dict.fromkeys(r["method"] for r in picked):
            found = [r for r in picked if r["batch"] == batch and r["method"] == method]
            if found:
                methods.append(
                    {
                        "method": method,
                        "met": min(r["speedup"] for r in found) >= target,
                        "each": ", ".join(f"{times(r['speedup'])} {r['precision']}" for r in found),
                    }
                )
        verdicts.append({"batch": batch, "methods": methods})
    share = [r["engine_share_of_peak"] for r in picked]
    return {
        "machine": small["machine"],
        "S": S_TARGETS,
        "unit": unit,
        "batches": [f"{b:,}" for b in batches],
        "large_batch": large["engine_vs_naive"][0]["batch"],
        "rows": rows,
        "target": target,
        "verdicts": verdicts,
        "shares": span(share, pct),
        "share_target": TARGETS["share_of_peak"],
        "share_met": min(share) >= TARGETS["share_of_peak"],
    }


def bf16_choice(doc: Doc) -> Context:
    """The machine's bf16 hardware, what ``precision="auto"`` picks there, and each workload's
    seconds (training: images per second) in both precisions beside its bf16 speed-up."""
    seconds, training = doc["seconds"], doc["training_images_per_s"]
    names = {
        "one_face_all_rows": "one face through every row, S = 30 (seconds)",
        "faces_256_heads": "256 faces through every row, heads sampled (seconds)",
    }
    rows = [[names[key], secs(seconds[key]["fp32"]), secs(seconds[key]["bf16"])] for key in names]
    rows.append(
        [
            f"training, one process, {doc['training_steps']} steps (images/s)",
            rate(training["fp32"]),
            rate(training["bf16"]),
        ]
    )
    keys = [*names, "training"]
    for row, key in zip(rows, keys, strict=True):
        row += [times(doc["bf16_speedup"][key]), doc["faster"][key]]
    return {**doc, "rows": rows}
