"""The bundled model set: its recipe, how it is trained (`train_all`), assembled and loaded.

The comparison the paper is about, plus two rows that ask whether Bayesian inference is needed:

    row key          checkpoint     method          trained on
    classical        dropout        classical       plurality label (one-hot, cross-entropy)
    classical_ts     dropout_ts     classical       same network, temperature fitted on Valid NLL
    mc_dropout       dropout        mc_dropout      plurality label
    mc_dropconnect   dropconnect    mc_dropconnect  plurality label
    ensemble         ensemble       ensemble        5 dropout networks (the first is `dropout`)
    classical_soft   soft           classical       vote distributions (soft target)
    mc_dropout_soft  soft           mc_dropout      vote distributions
    ensemble_soft    soft_ensemble  ensemble        3 soft-trained networks (the first is `soft`)

Every network trains on one budget, `BUNDLE_TRAINING` (60 epochs, the same recipe and
augmentation), whatever its method or target, so that the rows compare methods, not budgets;
each row of ``models.json`` records the recipe its networks were trained with (`row_training`).

Training runs one network per job into ``DIR/runs/<job>`` (fp32, resumable, skipped once
finished); assembling writes the bundle checkpoints into ``DIR`` (fp16 where Valid accuracy and
NLL do not move), ``models.json`` (the rows) and ``manifest.json`` (sha256 of every file).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import settings
from ..atomic import write_text_atomic
from ..constants import METHODS, PLACEMENTS
from ..data.split import FerPlusSplit
from ..evaluation import metrics
from ..evaluation.calibration import fit_temperature
from ..evaluation.priors import training_priors_document
from ..inference.mc import mc_predict
from ..models.checkpoints import (
    CheckpointError,
    checkpoint_paths,
    load_networks,
    save_checkpoint,
    stem_file,
    verify_manifest,
    write_manifest,
)
from ..models.methods import Method, build_method, method_class
from ..models.networks import NetworkConfig, with_placement
from .cores import SharedCores
from .train import TrainConfig, fit
from .trainstate import saved_epochs

REGISTRY_NAME = "models.json"
# each row's training prior, from Train (bnnfer.evaluation.priors.training_priors_document)
PRIORS_NAME = "priors.json"
DEFAULT_BUNDLE_DIR = settings.BUNDLED_MODELS
DEFAULT_EVALUATION_DIR = settings.BUNDLED_EVALUATION
ENSEMBLE_SIZE = 5

# The backbone of every bundled network, chosen on Valid (see bnnfer/assets/models/README.md).
BUNDLE_NETWORK = NetworkConfig(
    widths=(32, 64, 128, 256),
    convs_per_stage=2,
    head_width=256,
    placement="all",
    block_rate=0.1,
    head_rate=0.5,
)
# the one recipe every network of the bundle trains with. 60 epochs, not 24: the soft network
# trained 60 gained 2.4 points under the Barsoum protocol on Valid and came closer to the votes
# than the 24-epoch five-member ensemble, where SWA, label smoothing, mixup, distillation and the
# separable family gained nothing (docs/results.md, "The last levers" and the lever table)
BUNDLE_TRAINING = TrainConfig(
    network=BUNDLE_NETWORK,
    epochs=60,
    batch_size=128,
    lr=3e-3,
    weight_decay=5e-4,
    augment=True,
    # bf16 autocast where it is faster than fp32 (AMX, a GPU, some AVX-512 BF16 CPUs:
    # inference.bf16_pays), fp32 elsewhere: forced bf16 is emulated on a CPU without it, many
    # times slower than fp32
    precision="auto",
)
# The soft-trained ensemble: the soft network and SOFT_ENSEMBLE_SIZE - 1 more seeds of its
# recipe. On 2 cores of an AMD EPYC with bf16 in hardware the whole bundle then trains in about
# 9.7 h of the 10 allowed (docs/benchmarks.md, "Training on the CPU"); a fourth member would take
# it to 10.6 h, for the few tenths of a point a member past the second adds (docs/results.md,
# "How far more members go"). It is a row beside the plurality-trained ensemble, not instead of
# it: the paper's claims are about networks trained on the plurality label.
SOFT_ENSEMBLE_SIZE = 3
SOFT_SEED = 300


@dataclass(frozen=True)
class ModelRow:
    """One row of the comparison: a method served by a bundled checkpoint, and (in an assembled
    bundle's ``models.json``) the recipe its networks were trained with (`row_training`)."""

    key: str
    label: str
    checkpoint: str
    method: str
    target: str
    training: dict[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)

    @property
    def sampled(self) -> bool:
        """Whether the row's method draws S samples of the caller's choice (`Method.sampled`)."""
        return method_class(self.method).sampled


ROWS: tuple[ModelRow, ...] = (
    ModelRow("classical", "Classical", "dropout", "classical", "majority"),
    ModelRow("classical_ts", "Classical + temperature", "dropout_ts", "classical", "majority"),
    ModelRow("mc_dropout", "MC-Dropout", "dropout", "mc_dropout", "majority"),
    ModelRow("mc_dropconnect", "MC-DropConnect", "dropconnect", "mc_dropconnect", "majority"),
    ModelRow("ensemble", f"Ensemble ({ENSEMBLE_SIZE})", "ensemble", "ensemble", "majority"),
    ModelRow("classical_soft", "Classical, soft-trained", "soft", "classical", "soft"),
    ModelRow("mc_dropout_soft", "MC-Dropout, soft-trained", "soft", "mc_dropout", "soft"),
    ModelRow(
        "ensemble_soft",
        f"Ensemble, soft-trained ({SOFT_ENSEMBLE_SIZE})",
        "soft_ensemble",
        "ensemble",
        "soft",
    ),
)


def row_sampled(key: str) -> bool:
    """Whether the comparison row ``key`` (a key of `ROWS`, or a bare method name) draws S
    samples of the caller's choice (`Method.sampled`), for callers that hold only the key;
    False for a key that is neither."""
    row = next((r for r in ROWS if r.key == key), None)
    if row is not None:
        return row.sampled
    return key in METHODS and method_class(key).sampled


@dataclass(frozen=True)
class Job:
    """One network to train: its run name and config."""

    name: str
    config: TrainConfig


def bundle_jobs(base: TrainConfig = BUNDLE_TRAINING) -> list[Job]:
    """The networks the bundle needs, most important first (each a separate resumable run),
    all on ``base``'s recipe: only the method, the target and the seed differ."""
    majority = replace(base, target="majority", method="mc_dropout")
    soft = replace(base, target="soft", method="mc_dropout", seed=SOFT_SEED)
    jobs = [
        Job("dropout", replace(majority, seed=0)),
        Job("dropconnect", replace(majority, method="mc_dropconnect", seed=100)),
        Job("soft", soft),
    ]
    jobs += [Job(f"member{i}", replace(majority, seed=i)) for i in range(1, ENSEMBLE_SIZE)]
    jobs += [
        Job(f"soft_member{i}", replace(soft, seed=SOFT_SEED + i))
        for i in range(1, SOFT_ENSEMBLE_SIZE)
    ]
    return jobs


def _run_stem(out: Path, job: Job) -> Path:
    return out / "runs" / job.name


def job_finished(out: Path, job: Job) -> bool:
    """True when the job's checkpoint exists and was written by this job's config."""
    weights_path, json_path = checkpoint_paths(_run_stem(out, job))
    if not json_path.is_file() or not weights_path.is_file():
        return False
    try:
        trained = json.loads(json_path.read_text())["metadata"]["train"]
    except (json.JSONDecodeError, KeyError):
        return False
    return trained == job.config.to_dict() or (
        {k: v for k, v in trained.items() if k != "device"} == job.config.resume_key()
    )


def _run_jobs(
    jobs: Sequence[Job],
    out: Path,
    train: FerPlusSplit,
    valid: FerPlusSplit,
    cores: SharedCores | None = None,
) -> None:
    for job in jobs:
        if job_finished(out, job):
            print(f"[train-all] {job.name}: finished earlier, skipped")
            continue
        print(f"[train-all] {job.name}: training ({job.config.method}, {job.config.target})")
        fit(job.config, train, valid, _run_stem(out, job), resume=True, cores=cores)


def remaining_epochs(out: Path, job: Job) -> int:
    """Epochs ``job`` still has to train in ``out/runs``: all of them for every network it
    trains, less those its saved training states hold (`trainstate.saved_epochs`)."""
    if job_finished(out, job):
        return 0
    state_dir = stem_file(_run_stem(out, job), ".state")
    return max(0, job.config.epochs_to_train - saved_epochs(state_dir, job.config.resume_key()))


def _worker(
    rank: int, shares: list[list[Job]], out: Path, splits: Any, cores: SharedCores | None
) -> None:
    """Process ``rank``: its share of the jobs (`share_jobs`), on GPU ``rank`` when the jobs
    name CUDA, else on the CPU with its share of ``cores`` (more once other processes have
    finished theirs)."""
    mine = shares[rank]
    if any(j.config.device in ("auto", "cuda") for j in mine) and torch.cuda.is_available():
        mine = [replace(j, config=replace(j.config, device=f"cuda:{rank}")) for j in mine]
    if cores is not None:
        cores.take()
    try:
        _run_jobs(mine, out, splits["train"], splits["valid"], cores)
    finally:
        if cores is not None:
            cores.leave()


def share_jobs(
    jobs: Sequence[Job], workers: int, epochs: Sequence[int] | None = None
) -> list[list[Job]]:
    """``jobs`` dealt out to ``workers`` processes that each train theirs one after the other,
    so that the busiest finishes early: the longest jobs go first, each to the process with the
    fewest epochs so far; each share keeps the jobs' own order. ``epochs``: what each job still
    has to train (`remaining_epochs`, for a resumed run), by default all its config's
    (`TrainConfig.epochs_to_train`)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if epochs is None:
        epochs = [job.config.epochs_to_train for job in jobs]
    if len(epochs) != len(jobs):
        raise ValueError(f"{len(epochs)} epoch counts for {len(jobs)} jobs")
    totals = [0] * workers
    owner: dict[int, int] = {}
    for index in sorted(range(len(jobs)), key=lambda i: -epochs[i]):
        least = totals.index(min(totals))
        owner[index] = least
        totals[least] += epochs[index]
    return [[job for i, job in enumerate(jobs) if owner[i] == rank] for rank in range(workers)]


def cpu_processes(jobs: int, cores: int, requested: int | None = None) -> int:
    """Training processes for ``jobs`` networks on ``cores`` CPU cores: ``requested``, by
    default one per core, never more than one per job; the cores are shared out among them
    (`SharedCores`). Small convolutions scale poorly over threads, so on 2 cores two
    single-threaded trainings together beat one with two threads (docs/results.md)."""
    if jobs < 1 or cores < 1:
        raise ValueError(f"need at least one job and one core, got {jobs} and {cores}")
    return min(jobs, cores if requested is None else requested)


def train_all(
    out: str | os.PathLike[str],
    train: FerPlusSplit,
    valid: FerPlusSplit,
    base: TrainConfig = BUNDLE_TRAINING,
    only: Sequence[str] | None = None,
    workers: int | None = 1,
) -> list[Job]:
    """Train every unfinished job of the bundle (`bundle_jobs`) into ``out/runs``. Several
    GPUs: one process per GPU (``torch.multiprocessing``). Otherwise ``workers`` processes on
    the CPU, each training its share of the jobs (`share_jobs`, by the epochs each has left) one
    after the other with the cores shared out, a finished process's cores going to those still
    training (`SharedCores`; None: one process per core, `cpu_processes`); 1 trains them here,
    in order."""
    out = Path(out)
    every = bundle_jobs(base)
    jobs = [j for j in every if only is None or j.name in only]
    if only is not None and len(jobs) != len(set(only)):
        known = [j.name for j in every]
        raise ValueError(f"unknown job(s) in {list(only)}; known: {known}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    todo = [j for j in jobs if not job_finished(out, j)]
    gpus = torch.cuda.device_count() if base.device in ("auto", "cuda") else 0
    if gpus > 1:
        processes = min(gpus, len(todo))
    elif gpus == 1 or not todo:
        processes = 1
    else:
        processes = cpu_processes(len(todo), torch.get_num_threads(), workers)
    if processes > 1:
        import torch.multiprocessing as mp

        splits = {"train": train, "valid": valid}
        cores = None
        if gpus == 0:  # CPU processes; mp.spawn starts them, so the count is from its context
            cores = SharedCores.for_processes(
                torch.get_num_threads(), processes, mp.get_context("spawn")
            )
        # dealt out here, once, by what each job has left (a resumed run is part trained)
        shares = share_jobs(todo, processes, [remaining_epochs(out, job) for job in todo])
        mp.spawn(_worker, args=(shares, out, splits, cores), nprocs=processes)
    else:
        _run_jobs(jobs, out, train, valid)
    return jobs


# --------------------------------------------------------------------------------------
# assembling


def _valid_scores(method: Method, valid: FerPlusSplit) -> tuple[float, float]:
    probs = mc_predict(method, valid.images, seed=0, precision="fp32").numpy()
    probs = probs.mean(axis=0).astype(np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    return metrics.accuracy(probs, valid.labels), metrics.nll(probs, valid.labels)


def _write(
    out: Path,
    stem: str,
    networks: list,
    methods: list[str],
    valid: FerPlusSplit,
    temperature: float = 1.0,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write in fp16 when Valid accuracy moves < 0.1 point and NLL < 0.002; else fp32."""
    # the deterministic pass checks the weights (sampling would only add noise and time)
    check = "ensemble" if "ensemble" in methods else "classical"
    full = build_method(check, networks, temperature=temperature).eval()
    reference = _valid_scores(full, valid)
    save_checkpoint(out / stem, networks, methods, temperature, metadata, half=True)
    reloaded, _ = load_networks(out / stem)
    halved = _valid_scores(build_method(check, reloaded, temperature=temperature).eval(), valid)
    half = abs(halved[0] - reference[0]) < 1e-3 and abs(halved[1] - reference[1]) < 2e-3
    if not half:
        save_checkpoint(out / stem, networks, methods, temperature, metadata, half=False)
    return {
        "fp16": half,
        "valid_accuracy_fp32": reference[0],
        "valid_nll_fp32": reference[1],
        "valid_accuracy_fp16": halved[0],
        "valid_nll_fp16": halved[1],
    }


def assemble_bundle(
    out: str | os.PathLike[str], valid: FerPlusSplit, train: FerPlusSplit | None = None
) -> dict[str, Any]:
    """Write the bundle checkpoints, ``models.json``, with ``train`` the rows' training priors
    (``priors.json``, `bnnfer.evaluation.priors.training_priors_document`), and
    ``manifest.json`` into ``out`` from the finished runs in ``out/runs``. Rows whose runs have
    not finished yet are left out (and listed under ``missing``), so a partly trained bundle is
    usable. Returns a report (precision per file, the fitted temperature, what is missing)."""
    out = Path(out)
    done = {job.name: job for job in bundle_jobs() if job_finished_any(out, job.name)}
    loaded = {name: load_networks(out / "runs" / name) for name in done}
    meta = {name: doc["metadata"] for name, (_, doc) in loaded.items()}
    # each ensemble takes its members trained so far (at least 2, else its row is left out)
    ensembles = {
        "ensemble": _trained(loaded, "dropout", "member", ENSEMBLE_SIZE),
        "soft_ensemble": _trained(loaded, "soft", "soft_member", SOFT_ENSEMBLE_SIZE),
    }
    plan: list[tuple[str, list[str], list[str]]] = [
        ("dropout", ["dropout"], ["classical", "mc_dropout"]),
        ("dropconnect", ["dropconnect"], ["mc_dropconnect"]),
        ("soft", ["soft"], ["classical", "mc_dropout"]),
        *((stem, members, ["ensemble"]) for stem, members in ensembles.items()),
    ]
    report: dict[str, Any] = {"missing": sorted({j.name for j in bundle_jobs()} - set(done))}
    written = set()
    for stem, runs, methods in plan:
        if not runs or not all(run in loaded for run in runs):
            continue
        networks = [loaded[run][0][0] for run in runs]
        report[stem] = _write(
            out, stem, networks, methods, valid, metadata={"runs": {r: meta[r] for r in runs}}
        )
        written.add(stem)
    if "dropout" in written:
        # temperature scaling of the classical network, fitted on Valid NLL
        classical = build_method("classical", loaded["dropout"][0]).eval()
        probs = mc_predict(classical, valid.images, precision="fp32").numpy()[0].astype(np.float64)
        probs /= probs.sum(axis=1, keepdims=True)
        temperature = fit_temperature(probs, valid.labels)
        report["dropout_ts"] = _write(
            out,
            "dropout_ts",
            loaded["dropout"][0],
            ["classical"],
            valid,
            temperature=temperature,
            metadata={"temperature_fitted_on": "valid NLL", "runs": {"dropout": meta["dropout"]}},
        )
        report["temperature"] = temperature
        written.add("dropout_ts")
    runs_of = {stem: runs for stem, runs, _ in plan}
    runs_of["dropout_ts"] = ["dropout"]
    rows = [row.to_dict() for row in ROWS if row.checkpoint in written]
    for row in rows:
        row["training"] = row_training({r: meta[r] for r in runs_of[row["checkpoint"]]})
        if row["checkpoint"] in ensembles:  # the label counts the members it got
            row["label"] = (
                row["label"].rsplit(" (", 1)[0] + f" ({len(ensembles[row['checkpoint']])})"
            )
    for stem, members in ensembles.items():
        report[f"{stem}_members"] = members if stem in written else []
    registry = {"rows": rows, "report": report}
    write_text_atomic(out / REGISTRY_NAME, json.dumps(registry, indent=2) + "\n")
    if train is not None:
        targets = {row["key"]: row["target"] for row in rows}
        document = training_priors_document(train.votes, targets, f"FER+ {train.split}")
        write_text_atomic(out / PRIORS_NAME, json.dumps(document, indent=2) + "\n")
    write_manifest(out)
    return report


def _trained(loaded: dict[str, Any], first: str, prefix: str, size: int) -> list[str]:
    """The runs of an ensemble of ``size`` (``first``, then ``prefix1`` ...) found in
    ``loaded``; empty when fewer than two are."""
    members = [m for m in [first, *(f"{prefix}{i}" for i in range(1, size))] if m in loaded]
    return members if len(members) >= 2 else []


# what tells a bundle's networks apart by design (their row's method and target, the seed) or
# says nothing about how they were trained (the device); the rest of a train config is the recipe
_NOT_RECIPE = ("method", "target", "seed", "device")


def row_training(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The recipe a row's networks were trained with, from their runs' metadata (``{run name:
    {"train": TrainConfig.to_dict(), ...}}``, as a checkpoint's ``metadata["runs"]`` holds it):
    every train-config field but the method, target, seed and device, and the network without
    its stochastic-layer kind (the method's), plus ``runs`` and their ``seeds``. An ensemble's
    members must share the recipe: ValueError names the run that does not."""
    if not runs:
        raise ValueError("a row needs at least one trained run")
    recipes = {}
    for name, meta in runs.items():
        train = meta["train"]
        recipe = {k: v for k, v in train.items() if k not in _NOT_RECIPE}
        recipe["network"] = {k: v for k, v in train["network"].items() if k != "stochastic"}
        recipes[name] = recipe
    first, *rest = runs
    for name in rest:
        if recipes[name] != recipes[first]:
            differ = sorted(k for k in recipes[first] if recipes[first][k] != recipes[name].get(k))
            raise ValueError(f"run {name} was trained differently from {first}: {differ}")
    seeds = [meta["train"]["seed"] for meta in runs.values()]
    return {**recipes[first], "runs": list(runs), "seeds": seeds}


def job_finished_any(out: Path, name: str) -> bool:
    """A run named ``name`` has a complete checkpoint in ``out/runs`` (whatever its config)."""
    stem = out / "runs" / name
    return all(path.is_file() for path in checkpoint_paths(stem))


# --------------------------------------------------------------------------------------
# loading


def read_registry(folder: str | os.PathLike[str] = DEFAULT_BUNDLE_DIR) -> list[ModelRow]:
    """The rows of a bundle folder's ``models.json``."""
    path = Path(folder) / REGISTRY_NAME
    try:
        rows = json.loads(path.read_text())["rows"]
        return [ModelRow(**row) for row in rows]
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no model registry (not a bundle folder?)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(f"{path}: malformed model registry ({error})") from None


def load_bundle(
    folder: str | os.PathLike[str] = DEFAULT_BUNDLE_DIR,
    device: str | torch.device = "cpu",
    rows: Sequence[str] | None = None,
    samples: int = 30,
    placement: str | None = None,
) -> dict[str, Method]:
    """``{row key: Method}`` for the bundle in ``folder``, each file checked against the
    manifest's sha256 before it is read. ``rows`` picks some (default all). ``placement``
    (``"all"``, ``"last"``, ``"head"``) has the MC rows sample only those stochastic layers
    (`bnnfer.models.networks.with_placement`); None samples them as trained."""
    if placement is not None and placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    folder = Path(folder)
    verify_manifest(folder, [REGISTRY_NAME])
    registry = read_registry(folder)
    wanted = [r for r in registry if rows is None or r.key in rows]
    if rows is not None and len(wanted) != len(set(rows)):
        raise ValueError(
            f"unknown row(s) {sorted(set(rows) - {r.key for r in wanted})}; "
            f"known: {[r.key for r in registry]}"
        )
    stems = sorted({r.checkpoint for r in wanted})
    verify_manifest(folder, [f"{s}{ext}" for s in stems for ext in (".safetensors", ".json")])
    networks = {stem: load_networks(folder / stem, device) for stem in stems}
    methods = {}
    for row in wanted:
        nets, document = networks[row.checkpoint]
        if row.method not in document["methods"]:
            raise CheckpointError(f"{folder / row.checkpoint}.json does not serve {row.method}")
        if placement is not None and row.sampled:
            nets = [with_placement(net, placement) for net in nets]
        methods[row.key] = build_method(
            row.method, nets, samples=samples, temperature=document["temperature"]
        ).eval()
    return methods
