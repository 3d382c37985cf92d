"""How long a new user waits: the dashboard opened on an uncached split, and on no data at all.

Two measurements, each in a fresh process state (empty cache, no evaluation files):

* **uncached split**: the app opened on a FER+ folder holding only one split (``--split``, by
  default Valid presented as a ``FER2013Test/`` folder, so no shipped evaluation matches it),
  with the sidebar's defaults for this device. A session is opened every second (AppTest runs
  only a session's page on its reruns, not the sidebar, so each look is a new session, as a
  reloaded tab is), which also keeps the computation alive; recorded are the seconds until the
  Overview shows its first table row and until every row is there;
* **built-in evaluation**: the app opened with no FER+ folder, on the shipped evaluation;
  recorded are the seconds until every page has rendered once.

The figures go to ``benchmarks/results/first_run.json`` under this machine's tag (whether it
computes bf16 in hardware, and ``-slow`` where it does but ``precision="auto"`` finds fp32 the
faster and runs that; the record names the CPU and the precision), so runs on every kind of CPU
sit side by side. ``--hide-bf16`` makes a bf16 CPU report none, so that the dashboard takes
the path of a CPU without it (fp32, head-only sampling), recorded under ``cpu-bf16-hidden``:

    python benchmarks/first_run.py --data ../shared/data/ferplus [--hide-bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("overview", "explore", "calibration", "uncertainty")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _session():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)


def _rows(at) -> int:
    return len(at.dataframe[0].value) if at.dataframe else 0


def uncached_split(data: Path, split: str, limit: float) -> dict:
    """Seconds to the Overview's first row and to all rows, from an empty cache."""
    from bnnfer.data.ferplus import SPLIT_FOLDERS
    from bnnfer.inference import computations

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "ferplus"
        (folder).mkdir()
        # one split, presented as FER2013Test: the shipped Valid evaluation does not match it
        (folder / SPLIT_FOLDERS["test"]).symlink_to((data / SPLIT_FOLDERS[split]).resolve())
        os.environ.update(
            BNNFER_DATA=str(folder),
            BNNFER_CACHE=str(Path(scratch) / "cache"),
            BNNFER_EVALUATION=str(Path(scratch) / "none"),
        )
        start = time.perf_counter()
        at = _session().run()
        total = len(at.sidebar.multiselect(key="methods").value)
        placement = at.sidebar.selectbox(key="placement:test").value
        first, faces = None, {}
        while time.perf_counter() - start < limit:
            # the split's size, read while the computation runs (a finished one may be gone)
            for computation in list(computations._RUNNING.values()):
                faces = dict(computation.progress)
            rows = _rows(at)
            if rows and first is None:
                first = time.perf_counter() - start
            if rows == total:
                break
            time.sleep(1.0)
            at = _session().run()
        done = time.perf_counter() - start if _rows(at) == total else None
        return {
            "split": split,
            "faces": max((t for _, t in faces.values()), default=None),
            "rows": total,
            "placement": placement,
            "first_table_s": first,
            "all_rows_s": done,
            "limit_s": limit,
        }


def builtin_evaluation() -> dict:
    """Seconds until every page rendered once with no FER+ folder."""
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(
            BNNFER_DATA=str(Path(scratch) / "no-data"),
            BNNFER_CACHE=str(Path(scratch) / "cache"),
            BNNFER_EVALUATION=str(Path(scratch) / "none"),
        )
        start = time.perf_counter()
        at = _session().run()
        opened = time.perf_counter() - start
        assert _rows(at), "the overview shows no table on the built-in evaluation"
        for page in PAGES[1:]:
            at.switch_page(f"bnnfer_dashboard/screens/{page}.py").run()
            assert not at.exception, [e.value for e in at.exception]
        return {"overview_s": opened, "all_pages_s": time.perf_counter() - start}


def machine_tag(bf16: bool, hidden: bool, precision: str) -> str:
    """The record's key in first_run.json: one per kind of CPU the dashboard treats apart."""
    if hidden:
        return "cpu-bf16-hidden"
    if bf16 and precision == "fp32":  # bf16 in hardware but slower than fp32 here
        return "cpu-bf16-slow"
    return "cpu-bf16" if bf16 else "cpu-no-bf16"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a FER+ folder holding --split")
    parser.add_argument("--split", default="valid", choices=("train", "valid", "test"))
    parser.add_argument("--limit", type=float, default=600.0, help="give up after (seconds)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "first_run.json"))
    parser.add_argument(
        "--hide-bf16",
        action="store_true",
        help="report no bf16 in hardware: measure what a CPU without it runs (fp32, head only)",
    )
    args = parser.parse_args()

    import torch

    import bnnfer
    from bnnfer.inference.mc import native_bf16, resolve_precision

    device = bnnfer.select_device("auto")
    hidden = args.hide_bf16 and native_bf16(device)
    if args.hide_bf16:  # the probes bnnfer.inference.mc.native_bf16 asks, before the app runs
        for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
            setattr(torch.cpu, probe, lambda: False)
    bf16 = native_bf16(device)
    # what the dashboard computes in: bf16 in hardware is not always the faster (`bf16_pays`)
    precision = resolve_precision("auto", device)
    builtin = builtin_evaluation()  # first: a fresh process, as a new user's
    record = {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "bf16_in_hardware": bf16,
        "bf16_hidden": hidden,
        "precision": precision,
        "device": bnnfer.describe_device(device),
        "builtin_evaluation": builtin,
        "uncached_split": uncached_split(Path(args.data), args.split, args.limit),
        "targets": {"first_table_s": 30, "all_rows_s": 90, "builtin_open_s": 5},
    }
    out = Path(args.out)
    document = json.loads(out.read_text()) if out.is_file() else {}
    document[machine_tag(bf16, hidden, precision)] = record
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
