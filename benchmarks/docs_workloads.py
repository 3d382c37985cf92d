"""The contexts of docs/benchmarks.md's sections on what a user runs: a first run, the photo
path's framing, a video, the dashboard's pages, many sessions at once, training on the CPU and a
wider network (benchmarks/first_run.py, framing.py, video.py, page_render.py, load.py,
train_workers.py, width_budget.py).

Each context function takes its section's results file, parsed, and returns the fields its
template in benchmarks/templates/ shows; benchmarks/render_docs.py registers them.
"""

from __future__ import annotations

from collections.abc import Callable

from docs_format import Context, Doc, label, pct, points, rate, secs, times, verdict, yes_no


def first_run(doc: Doc) -> Context:
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
                "hidden" if record.get("bf16_hidden") else yes_no(record["bf16_in_hardware"]),
                record["precision"],
                split["placement"],
                against(split["first_table_s"], target["first_table_s"]),
                against(split["all_rows_s"], target["all_rows_s"]),
                against(builtin["overview_s"], target["builtin_open_s"]),
                secs(builtin["all_pages_s"]),
            ]
        )
    return {"split": next(iter(doc.values()))["uncached_split"], "rows": rows}


def framing(doc: Doc) -> Context:
    fitted, check, bounds = doc["fit_on_train"], doc["check_on_valid"], doc["bounds"]
    low, high = fitted["side_per_box_height_p10_p90"]
    photo_rows = [
        [label(key), points(check["accuracy_direct"][key]), points(photo)]
        for key, photo in check["accuracy_photo_path"].items()
    ]
    scales = doc["valid_accuracy_by_scale"]
    keys = list(next(iter(scales.values())))
    haar = bounds["haar_rule"]
    haar_rows = [
        [label(key), points(check["accuracy_photo_path"][key]), points(value)]
        for key, value in haar.get("accuracy", {}).items()
    ]
    return {
        "fitted": fitted,
        "low": low,
        "high": high,
        "rule": doc["rule_in_use"],
        "check": check,
        "worst_drop": max(
            check["accuracy_direct"][k] - v for k, v in check["accuracy_photo_path"].items()
        ),
        "photo_rows": photo_rows,
        "drop_at_85": max(scales["1.00"][k] - scales["0.85"][k] for k in keys),
        "scale_columns": [label(k) for k in keys],
        "scale_rows": [[scale, *(points(row[k]) for k in keys)] for scale, row in scales.items()],
        "bounds": bounds,
        "repeat": bounds["repeat"],
        "ridge": bounds["landmark_rule"],
        "haar": haar,
        "haar_rows": haar_rows,
    }


def video(doc: Doc) -> Context:
    target, rows = doc["target_s"], []
    parts = ("load_models", "decode", "detect", "infer")
    for r in doc["runs"]:
        t = r["seconds"]
        rows.append(
            [
                str(r["threads"]),
                f"{r['load_average_before'][0]:.1f}",
                *(secs(t[part]) for part in parts),
                secs(max(0.0, t["total"] - sum(t[part] for part in parts))),
                f"**{secs(t['total'])}** (< {target:g} s: {verdict(t['total'] < target)})",
            ]
        )
    first = doc["runs"][0]
    return {
        **doc,
        "first": first,
        "detect_share": first["seconds"]["detect"] / first["seconds"]["total"],
        "rows": rows,
    }


def page_render(doc: Doc) -> Context:
    rows = [
        [p["page"], secs(p["first_s"]), secs(p["cached_s"]), "; ".join(p["errors"]) or "none"]
        for p in doc
    ]
    return {"rows": rows}


def load(doc: Doc) -> Context:
    runs = []
    for name, record in doc.items():
        found, targets = record["ratios"], record["targets"]
        verdicts = [
            {
                "key": key,
                "target": targets[key],
                "found": found[key],
                "met": found[key] <= targets[key],
            }
            for key in ("cpu_ratio_4", "cpu_ratio_8", "photo_worst_ratio_4")
            if key in found
        ]
        profiled = [r for r in record["runs"] if "profile" in r]
        shown = [profiled[0], profiled[-1]] if len(profiled) > 1 else profiled
        runs.append(
            {
                **record,
                "label": name,
                "faces": record.get("faces"),
                "browser_nice": record.get("browser_nice", 0),
                "began": record["load_average_before"][0],
                "ended": record["load_average_after"][0],
                "rows": load_rows(record),
                "verdicts": verdicts,
                "clean": all(r["exceptions"] == 0 and r["tracebacks"] == 0 for r in record["runs"]),
                "profile": [
                    [str(run["tabs"]), f"`{function}`", pct(share)]
                    for run in shown
                    for function, share in run["profile"]["self"][:6]
                ],
            }
        )
    return {"runs": runs}


def load_rows(record: dict) -> list[list[str]]:
    """One row per number of tabs; the ratios against the run with one tab."""
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
                " / ".join(
                    secs(photo[key]) if key in photo else "-"  # runs before it was recorded
                    for key in ("server_cpu_s", "machine_cpu_s")
                ),
                str(photo["tabs_shown_a_place_in_line"]),
                f"{run['exceptions']} / {run['tracebacks']}",
            ]
        )
    return rows


def photo_floor(*docs: Doc) -> Context:
    """One machine per results file (without bf16 hardware, then with it), the same fields each."""
    return {"machines": [photo_floor_machine(doc) for doc in docs]}


def photo_floor_machine(doc: Doc) -> Context:
    one, threads = doc["one_photo"], doc["torch_threads"]
    runs = [
        ("one photo, 1 thread", doc["one_photo_1_thread"]),
        (f"one photo, {threads} threads", one),
        (
            f"{doc['photos']} photos one after another, {threads} threads",
            doc["photos_one_after_another"],
        ),
        (f"{doc['photos']} photos batched, {threads} threads", doc["photos_batched"]),
        (f"{doc['photos']} photos batched, 1 thread", doc["photos_batched_1_thread"]),
    ]
    rows = [
        [name, secs(run["wall_s"]), secs(run["cpu_s"]), times(run["wall_s"] / one["wall_s"])]
        for name, run in runs
    ]
    return {
        **doc,
        "rows": rows,
        "least_cpu_s": doc["floor_worst_s"] * doc["cores"],
        "saving": doc["batching_cpu_saving"],
        "possible": doc["floor_worst_ratio"] <= 2.5,
    }


def train_workers(*docs: Doc) -> Context:
    """One machine per results file (without bf16 hardware, then with it), each with the hours
    the bundle's current recipe (`bnnfer.training.bundle.bundle_jobs`) takes at its rates."""
    from bnnfer.training.bundle import bundle_jobs

    # all each job trains (`TrainConfig.epochs_to_train`), in train-all's order
    epochs = [job.config.epochs_to_train for job in bundle_jobs()]
    files = ("train_workers.json", "train_workers-cpu-bf16.json")
    machines = [
        train_workers_machine(doc, epochs, file) for doc, file in zip(docs, files, strict=True)
    ]
    return {"epochs": epochs, "machines": machines}


def train_workers_machine(doc: Doc, epochs: list[int], file: str) -> Context:
    layouts, train_faces = doc["layouts"], doc["bundle"]["train_faces"]

    def hours(layout: dict) -> float:
        # each process trains its share of the networks one after the other, the shares
        # train-all's (`bnnfer.training.bundle.share_jobs`, longest jobs first), all at the
        # layout's rate while more than one runs; the last one left takes every core
        # (`bnnfer.training.cores`) and trains at the one-process rate
        processes = layout["processes"]
        each = layout["images_per_s"] / processes
        alone = layouts["one process"]["images_per_s"]
        seconds, trained = 0.0, 0
        for finished, share in enumerate(sorted(processes_epochs(epochs, processes))):
            rate = alone if processes - finished == 1 else each
            seconds += (share - trained) * train_faces / rate
            trained = share
        return seconds / 3600

    rows = [
        [
            name,
            f"{layout['processes']} x {layout['threads_each']}",
            " + ".join(rate(r) for r in layout["images_per_s_each"]),
            rate(layout["images_per_s"]),
        ]
        for name, layout in layouts.items()
    ]
    return {
        **doc,
        "rows": rows,
        "file": file,
        "train_faces": train_faces,
        "hours_one": hours(layouts["one process"]),
        "hours_per_core": hours(layouts["one per core"]),
    }


def processes_epochs(epochs: list[int], processes: int) -> list[int]:
    """Epochs each of ``processes`` trains when train-all deals out networks of ``epochs``."""
    from bnnfer.training.bundle import Job, share_jobs
    from bnnfer.training.train import TrainConfig

    jobs = [Job(str(i), TrainConfig(epochs=e)) for i, e in enumerate(epochs)]
    return [sum(j.config.epochs for j in share) for share in share_jobs(jobs, processes)]


def width_budget(doc: Doc) -> Context:
    budget, widths = doc["budget"], doc["records"]
    precisions = [p for p in ("fp32", "bf16") if any(f"one_face_s_{p}" in r for r in widths)]
    base = next(r for r in widths if r["multiplier"] == 1.0)
    rows = [
        [
            f"{r['multiplier']:g}x",
            "-".join(str(w) for w in r["widths"]),
            f"{r['parameters'] / 1e6:.2f}M",
            f"{r['bundle_mb_fp16']:.0f} MB",
            times(r["flops_per_face"] / base["flops_per_face"]),
            *(secs(r[f"one_face_s_{p}"]) for p in precisions),
        ]
        for r in widths
    ]

    def widest(fits: Callable[[dict], bool]) -> str:
        ok = [r for r in widths if fits(r)]
        return f"{max(r['multiplier'] for r in ok):g}x" if ok else "none measured"

    time_key = "one_face_s_bf16" if doc["bf16_in_hardware"] else "one_face_s_fp32"
    return {
        **doc,
        "precisions": precisions,
        "widths": rows,
        "time_budget": budget[time_key],
        "fits_time": widest(lambda r: r[time_key] <= budget[time_key]),
        "fits_size": widest(lambda r: r["bundle_mb_fp16"] <= budget["bundle_mb"]),
    }
