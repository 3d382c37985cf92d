"""Dashboard render times: each page run under streamlit's AppTest once predictions are cached.

    BNNFER_DATA=../shared/data/ferplus python benchmarks/page_render.py [--runs 3]

Prints seconds per page (first run, which may fill caches, and the best of the next runs) and
writes benchmarks/results/page_render.json. A page taking longer than 3 s once cached is a
regression to look at; nothing here fails on it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["overview", "explore", "calibration", "uncertainty", "photo"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs after the first")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/page_render.json"))
    args = parser.parse_args()
    records = []
    for page in PAGES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
        started = time.perf_counter()
        at.run()
        if page != "overview":
            at.switch_page(f"bnnfer_dashboard/screens/{page}.py")
            at.run()
        first = time.perf_counter() - started
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
        errors = [str(e.value) for e in at.exception]
        records.append({"page": page, "first_s": first, "cached_s": min(times), "errors": errors})
        print(f"{page:<12} first {first:6.2f} s   cached {min(times):5.2f} s   {errors or ''}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(records, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
