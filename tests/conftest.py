"""Shared fixtures: a synthetic FER+ folder, an isolated cache, the real data when present, the
tiny bundle and the dashboard tests' environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.cores import worker_cores, worker_count
from helpers.fakeferplus import write_folder_layout

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ferplus"


# the longest files, started first so that the parallel workers finish together (pytest-xdist hands
# out whole files, ``--dist loadfile``, in collection order); each takes a minute or more on 2 cores
LONGEST_FIRST = (
    "tests/library/test_integration_ferplus.py",
    "tests/e2e/test_browser.py",
    "tests/e2e/test_annotate_browser.py",
)


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker per core, at most 4. Each worker holds its own torch, and an
    end-to-end test a dashboard server and a Chromium beside it, so more workers than that buy
    memory pressure rather than speed."""
    return max(1, min(os.cpu_count() or 1, 4))


def pytest_configure(config) -> None:
    """Under xdist, what this worker starts (dashboard servers, the command line) keeps to the
    worker's share of the cores too (helpers/cores.py says why)."""
    if worker_count() > 1:
        for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, str(worker_cores()))


def pytest_collection_modifyitems(config, items) -> None:
    """Run the longest files first (stable: every other test keeps its place)."""

    def rank(item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(Path(__file__).resolve().parents[1])
        name = path.as_posix()
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    """Test tensors are tiny: one intra-op thread avoids OpenMP spin contention on 2 cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own FER+ cache folder and annotations database, and BNNFER_DATA is
    unset unless it sets it."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("BNNFER_CACHE", str(cache))
    monkeypatch.delenv("BNNFER_DATA", raising=False)
    # votes go to a throwaway database, never the user's (bnnfer.annotations)
    monkeypatch.setenv("BNNFER_ANNOTATIONS", str(cache / "annotations.sqlite"))
    return cache


@pytest.fixture
def fake_ferplus(tmp_path) -> tuple[Path, dict]:
    """A FERPlus folder layout with 40 train, 24 valid and 16 test faces."""
    root = tmp_path / "ferplus"
    made = write_folder_layout(root, {"train": 40, "valid": 24, "test": 16})
    return root, made


def real_data_dir() -> Path | None:
    """The real FER+ Train/Valid folders: $BNNFER_REAL_DATA, else ../shared/data/ferplus."""
    candidate = Path(os.environ.get("BNNFER_REAL_DATA", REAL_DATA))
    return candidate if (candidate / "FER2013Train" / "label.csv").is_file() else None


@pytest.fixture
def real_ferplus() -> Path:
    root = real_data_dir()
    if root is None:
        pytest.skip("the real FER+ data is not present (../shared/data/ferplus)")
    return root


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """A synthetic FER+ folder (train 40, valid 24 faces) and a bundle of tiny networks trained
    on it for one epoch: every row of the comparison, in the real bundle's format."""
    from dataclasses import replace

    from bnnfer import NetworkConfig, load_ferplus
    from bnnfer.training.bundle import BUNDLE_TRAINING, assemble_bundle, train_all

    root = tmp_path_factory.mktemp("tiny-data")
    write_folder_layout(root, {"train": 40, "valid": 24})
    splits = load_ferplus(root, cache_dir=False)
    out = tmp_path_factory.mktemp("tiny-bundle")
    base = replace(
        BUNDLE_TRAINING,
        network=NetworkConfig(widths=(4, 8), convs_per_stage=1, head_width=8),
        epochs=1,
        batch_size=8,
        augment=False,
        precision="fp32",
    )
    train_all(out, splits["train"], splits["valid"], base=base)
    assemble_bundle(out, splits["valid"], splits["train"])
    return root, out, splits


@pytest.fixture
def app_env(tiny_bundle, monkeypatch, tmp_path):
    """The environment every AppTest of the dashboard runs in (tests/app/): ``(data root,
    bundle folder, splits)`` of the tiny bundle, the working directory at the repository root,
    and no evaluation on disk, so each page computes what it shows."""
    root, models, splits = tiny_bundle
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("BNNFER_MODELS", str(models))
    monkeypatch.setenv("BNNFER_DATA", str(root))
    monkeypatch.setenv("BNNFER_EVALUATION", str(tmp_path / "no-evaluation"))
    monkeypatch.setenv("BNNFER_BUILTIN_EVALUATION", str(tmp_path / "no-builtin-evaluation"))
    return root, models, splits
