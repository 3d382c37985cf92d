"""Many at once: what N browser tabs opened together cost the dashboard's server.

For each N (``--tabs``, by default 1 2 4 8), a fresh ``streamlit run app.py`` (headless, on
127.0.0.1) is started on a FER+ folder holding one uncached split (``--split``, by default Valid,
presented as ``FER2013Test/`` so that no shipped evaluation matches it; ``--faces`` keeps its first
faces only, for a shorter run) with an empty cache, and
N Chromium contexts (Debian's ``chromium``, driven by Playwright) then:

* **open the Overview together** and wait until every row is shown (no progress bar left, and
  as many models placed among the annotators as the bundle has rows): each tab's seconds;
* **upload a photo together** on the photo page (six faces cut from skimage's astronaut, each
  tab's copy saved at another JPEG quality so that no two uploads are the same bytes), after one
  warm-up upload that loads the face detector: each upload's seconds until its last face is
  read.

Recorded per N: the server's CPU seconds (user + system of the process and all its threads,
from ``/proc/<pid>/stat``, since the server answered its health check), each tab's time to
every row, the photo latencies, the exceptions the pages show and the tracebacks in the
server's log. Wall times move with whatever else the machine runs (the browsers among it); the
server's CPU seconds do not, and the targets are set on them. ``--profile`` samples the server
with py-spy for the whole run of each N and keeps its top entries. Results go to
``benchmarks/results/load.json`` (``--label`` names the run, e.g. ``before``):

    python benchmarks/load.py --data ../shared/data/ferplus [--tabs 1 4] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from first_run import cpu_model

ROOT = Path(__file__).resolve().parents[1]
FACES_PER_PHOTO = 6
TARGETS = {"cpu_ratio_4": 1.3, "cpu_ratio_8": 1.6, "photo_worst_ratio_4": 2.5}


# -- the server ---------------------------------------------------------------------------------


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine, all cores, every process (``/proc/stat``): the
    server, the browsers and this script together."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(env: dict, log_path: Path, limit: float = 120.0):
    """``streamlit run app.py`` on a free localhost port; yields ``(url, pid)`` once healthy."""
    port = _free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip  # options beside their values
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + limit
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not come up; see {log_path}")
                try:
                    with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.3)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def profiler(pid: int, out: Path | None):
    """py-spy sampling ``pid`` (every thread, idle ones left out) into ``out`` (collapsed
    stacks); nothing when ``out`` is None."""
    if out is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    process = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
         "--rate", "50", "--nonblocking", "--threads"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip  # options beside their values
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def top_entries(raw: Path, count: int = 12) -> dict:
    """The profile's top functions: ``inclusive`` (share of samples with the function anywhere
    on the stack, each function once per stack) and ``self`` (share with it on top)."""
    inclusive, own, total = Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = [re.sub(r":\d+\)", ")", f) for f in stack.split(";")[1:]]  # [0]: the thread
        total += int(samples)
        for frame in set(frames):
            inclusive[frame] += int(samples)
        if frames:
            own[frames[-1]] += int(samples)
    share = {"samples": total}
    for name, counts in (("inclusive", inclusive), ("self", own)):
        share[name] = [[f, round(n / max(total, 1), 4)] for f, n in counts.most_common(count)]
    return share


# -- the browsers -------------------------------------------------------------------------------


def _launch(p, nice: int, folder: Path):
    """Debian's Chromium, headless; with ``nice`` > 0 through a wrapper that lowers its priority
    (every process it starts inherits it): the tabs stand in for the users' own machines, so
    they take the CPU the server leaves instead of competing with it for the 2 cores."""
    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]  # fmt: skip
    executable = shutil.which("chromium")
    if nice > 0:
        wrapper = folder / "chromium-niced"
        wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} {executable} "$@"\n')
        wrapper.chmod(0o755)
        executable = str(wrapper)
    return p.chromium.launch(executable_path=executable, headless=True, args=flags)


ALL_ROWS = """(rows) => {
  const text = document.body.innerText;
  if (document.querySelector('[data-testid="stException"]')) return 'exception';
  if (document.querySelector('[data-testid="stProgress"]')) return '';
  if (text.includes('Running the models on this split')) return '';
  if (!document.querySelector('[data-testid="stDataFrame"]')) return '';
  const placed = (text.match(/: worth (about|less|more)/g) || []).length;
  return placed >= rows ? 'done' : '';
}"""


def _exceptions(pages) -> int:
    return sum(page.locator("[data-testid='stException']").count() for page in pages)


def overview(browser, url: str, tabs: int, rows: int, limit: float) -> dict:
    """N tabs open the Overview at once; seconds until each shows every row."""
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(tabs)]
    pages = [context.new_page() for context in contexts]
    start = time.perf_counter()
    for page in pages:
        page.goto(url, wait_until="commit")
    done: dict[int, float] = {}
    while len(done) < tabs and time.perf_counter() - start < limit:
        for i, page in enumerate(pages):
            if i not in done and page.evaluate(ALL_ROWS, rows):
                done[i] = time.perf_counter() - start
        time.sleep(0.25)
    times = [done.get(i) for i in range(tabs)]
    return {"pages": pages, "contexts": contexts, "all_rows_s": times}


def photos(tabs: int) -> list[bytes]:
    """Six faces from skimage's astronaut in a 3 x 2 grid, one JPEG per tab (other qualities:
    other bytes, the same work)."""
    from PIL import Image
    from skimage import data as skimage_data

    face = Image.fromarray(skimage_data.astronaut()).crop((120, 0, 300, 220))
    grid = Image.new("RGB", (3 * face.width, 2 * face.height))
    for i in range(FACES_PER_PHOTO):
        grid.paste(face, ((i % 3) * face.width, (i // 3) * face.height))
    out = []
    for i in range(tabs + 1):
        buffer = io.BytesIO()
        grid.save(buffer, format="JPEG", quality=95 - i)
        out.append(buffer.getvalue())
    return out


def _uploader(page):
    return page.locator("[data-testid='stMain'] input[type='file']").first


# Installed in a tab just before its upload: every 50 ms the page itself looks for its last
# face's reading and for a place in line, and keeps the time. The script then asks each tab
# twice a second, instead of querying every tab's DOM over the wire ten times a second, which
# cost the 2 cores more than the server's own work with four tabs.
WATCH = """(face) => {
  const seen = {started: performance.now(), done: null, queued: false};
  window.__bnnferUpload = seen;
  const timer = setInterval(() => {
    const text = document.body.textContent;
    seen.queued = seen.queued || text.includes(" in line");
    if (text.includes(face)) {
      seen.done = performance.now();
      clearInterval(timer);
    }
  }, 50);
}"""


def photo_uploads(pages, url: str, folder: Path, limit: float, pid: int) -> dict:
    """One warm-up upload, then every tab uploads its own photo at once: seconds from each
    tab's upload until it shows its last face's reading (timed in the tab), and the server's
    and the whole machine's CPU seconds from the first upload to the last reading."""
    files = []
    for i, data in enumerate(photos(len(pages))):
        files.append(folder / f"faces-{i}.jpg")
        files[-1].write_bytes(data)
    last_face = f"Face {FACES_PER_PHOTO}:"
    for page in pages:
        page.goto(f"{url}/photo")
    for page in pages:
        _uploader(page).wait_for(state="attached", timeout=120_000)
    _uploader(pages[0]).set_input_files(str(files[-1]))
    pages[0].get_by_text(last_face).wait_for(timeout=limit * 1000)
    pages[0].goto(f"{url}/photo")
    _uploader(pages[0]).wait_for(state="attached", timeout=120_000)
    start, cpu_start, machine_start = time.perf_counter(), cpu_seconds(pid), machine_cpu_seconds()
    for page, file in zip(pages, files, strict=False):
        page.evaluate(WATCH, last_face)
        _uploader(page).set_input_files(str(file))
    seen: list[dict] = []
    while time.perf_counter() - start < limit:
        time.sleep(0.5)
        seen = [page.evaluate("window.__bnnferUpload") for page in pages]
        if all(s["done"] is not None for s in seen):
            break
    cpu, machine = cpu_seconds(pid) - cpu_start, machine_cpu_seconds() - machine_start
    latencies = [
        None if s["done"] is None else round((s["done"] - s["started"]) / 1000, 3) for s in seen
    ]
    finished = [s for s in latencies if s is not None]
    return {
        "latencies_s": latencies,
        "median_s": statistics.median(finished) if finished else None,
        "worst_s": max(finished) if len(finished) == len(pages) else None,
        "tabs_shown_a_place_in_line": sum(s["queued"] for s in seen),
        "server_cpu_s": round(cpu, 2),
        "machine_cpu_s": round(machine, 2),
        "wall_s": round(time.perf_counter() - start, 2),
    }


# -- one configuration ---------------------------------------------------------------------------


def row_count(models: Path) -> int:
    from bnnfer.training.bundle import read_registry

    return len(read_registry(models))


def present_split(data: Path, split: str, faces: int | None, folder: Path) -> None:
    """``folder`` as a FER+ folder whose ``FER2013Test/`` is ``split`` of ``data`` (so that no
    shipped evaluation matches it), or its first ``faces`` faces."""
    from bnnfer.data.ferplus import SPLIT_FOLDERS

    source = (data / SPLIT_FOLDERS[split]).resolve()
    target = folder / SPLIT_FOLDERS["test"]
    folder.mkdir(parents=True, exist_ok=True)
    if faces is None:
        target.symlink_to(source)
        return
    target.mkdir(parents=True)
    lines = (source / "label.csv").read_text().splitlines()[:faces]
    (target / "label.csv").write_text("\n".join(lines) + "\n")
    for line in lines:
        name = line.split(",", 1)[0]
        (target / name).symlink_to(source / name)


def run(
    data: Path,
    split: str,
    faces: int | None,
    tabs: int,
    limit: float,
    profile: Path | None,
    browser_nice: int = 0,
) -> dict:
    """A fresh server on an uncached split and an empty cache, N tabs through both phases."""
    from playwright.sync_api import sync_playwright

    from bnnfer.training.bundle import DEFAULT_BUNDLE_DIR

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "ferplus"
        present_split(data, split, faces, folder)
        env = dict(os.environ, BNNFER_DATA=str(folder), BNNFER_CACHE=str(Path(scratch) / "cache"))
        env.update(BNNFER_EVALUATION=str(Path(scratch) / "none"), PYTHONUNBUFFERED="1")
        env.pop("BNNFER_MODELS", None)
        log = Path(scratch) / "server.log"
        rows = row_count(DEFAULT_BUNDLE_DIR)
        raw = None if profile is None else profile.with_suffix(f".tabs{tabs}.txt")
        with server(env, log) as (url, pid), profiler(pid, raw), sync_playwright() as p:
            before = cpu_seconds(pid)
            browser = _launch(p, browser_nice, Path(scratch))
            opened = overview(browser, url, tabs, rows, limit)
            print(f"{tabs} tab(s): every row after {opened['all_rows_s']} s", flush=True)
            overview_cpu = cpu_seconds(pid) - before
            exceptions = _exceptions(opened["pages"])
            photo = photo_uploads(opened["pages"], url, Path(scratch), limit, pid)
            exceptions += _exceptions(opened["pages"])
            total_cpu = cpu_seconds(pid) - before
            browser.close()
        text = log.read_text()
        times = [t for t in opened["all_rows_s"] if t is not None]
        record = {
            "tabs": tabs,
            "rows": rows,
            "overview_cpu_s": round(overview_cpu, 2),
            "server_cpu_s": round(total_cpu, 2),
            "all_rows_s": opened["all_rows_s"],
            "all_rows_worst_s": max(times) if len(times) == tabs else None,
            "photo": photo,
            "exceptions": exceptions,
            "tracebacks": text.count("Traceback"),
        }
        if raw is not None and raw.is_file():
            record["profile"] = top_entries(raw)
        print(json.dumps(record), flush=True)
        return record


def judge(records: dict[int, dict]) -> dict:
    """The ratios the targets are set on, from one run's records (by tab count)."""
    out = {}
    one = records.get(1)
    for tabs in (2, 4, 8):
        if one is None or tabs not in records:
            continue
        out[f"cpu_ratio_{tabs}"] = round(records[tabs]["overview_cpu_s"] / one["overview_cpu_s"], 3)
        worst, single = records[tabs]["photo"]["worst_s"], one["photo"]["worst_s"]
        if worst is not None and single:
            out[f"photo_worst_ratio_{tabs}"] = round(worst / single, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a FER+ folder holding --split")
    parser.add_argument("--split", default="valid", choices=("train", "valid", "test"))
    parser.add_argument("--faces", type=int, help="the split's first FACES faces only")
    parser.add_argument("--tabs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--limit", type=float, default=600.0, help="give up a phase after (s)")
    parser.add_argument("--label", default="after", help="the run's name in the results file")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy")
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=19,
        help="run the browsers at this nice value (0: the server's priority)",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load.json"))
    args = parser.parse_args()

    import torch

    from bnnfer.inference.mc import native_bf16

    load_before = list(os.getloadavg())
    out = Path(args.out)
    profile = out.with_name(f"load-profile-{args.label}") if args.profile else None
    records = {
        n: run(Path(args.data), args.split, args.faces, n, args.limit, profile, args.browser_nice)
        for n in args.tabs
    }
    document = json.loads(out.read_text()) if out.is_file() else {}
    document[args.label] = {
        "cpu": cpu_model(),
        "bf16_in_hardware": native_bf16(torch.device("cpu")),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "browser_nice": args.browser_nice,
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "split": args.split,
        "faces": args.faces,
        "runs": [records[n] for n in args.tabs],
        "ratios": judge(records),
        "targets": TARGETS,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document[args.label]["ratios"], indent=2))


if __name__ == "__main__":
    main()
