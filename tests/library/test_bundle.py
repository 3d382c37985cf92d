"""bnnfer.training.bundle: train-all trains each job once (skipping finished ones) on one recipe,
assembling writes the eight comparison rows, each with the recipe it was trained with, and a
manifest, and loading verifies checksums. The temperature
fit itself is tested in test_calibration.py."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from bnnfer import CheckpointError, NetworkConfig, load_ferplus, mc_predict
from bnnfer.training.bundle import (
    BUNDLE_TRAINING,
    ROWS,
    SOFT_ENSEMBLE_SIZE,
    Job,
    assemble_bundle,
    bundle_jobs,
    cpu_processes,
    job_finished,
    load_bundle,
    read_registry,
    remaining_epochs,
    row_training,
    share_jobs,
    train_all,
)

TINY_BASE = replace(
    BUNDLE_TRAINING,
    network=NetworkConfig(widths=(4, 8), convs_per_stage=1, head_width=8),
    epochs=1,
    batch_size=8,
    augment=False,
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from helpers.fakeferplus import write_folder_layout

    root = tmp_path_factory.mktemp("data")
    write_folder_layout(root, {"train": 40, "valid": 24})
    splits = load_ferplus(root, cache_dir=False)
    out = tmp_path_factory.mktemp("bundle")
    partial = train_all(out, splits["train"], splits["valid"], base=TINY_BASE, only=["dropout"])
    report_partial = assemble_bundle(out, splits["valid"])
    rows_partial = [r.key for r in read_registry(out)]
    train_all(out, splits["train"], splits["valid"], base=TINY_BASE)
    report = assemble_bundle(out, splits["valid"], splits["train"])
    return out, splits, report, (partial, report_partial, rows_partial)


def test_jobs_cover_the_comparison():
    names = [job.name for job in bundle_jobs()]
    assert names[:3] == ["dropout", "dropconnect", "soft"]
    assert len(names) == 9 and len(set(names)) == 9
    targets = {job.name: job.config.target for job in bundle_jobs()}
    assert targets["soft"] == "soft" and targets["dropout"] == "majority"
    soft = [name for name, target in targets.items() if target == "soft"]
    assert soft == ["soft", "soft_member1", "soft_member2"] and SOFT_ENSEMBLE_SIZE == 3
    seeds = [job.config.seed for job in bundle_jobs()]
    assert len(set(seeds)) == len(seeds)  # independently initialised networks


def test_every_network_trains_on_one_budget():
    """Claim 1 compares methods, not budgets: the nine jobs differ in method, target and seed
    only, whatever the base."""
    assert BUNDLE_TRAINING.epochs == 60
    for base in (BUNDLE_TRAINING, TINY_BASE):
        recipes = [
            {k: v for k, v in j.config.to_dict().items() if k not in ("method", "target", "seed")}
            for j in bundle_jobs(base)
        ]
        assert all(recipe == recipes[0] for recipe in recipes) and len(recipes) == 9
        assert recipes[0]["epochs"] == base.epochs
        assert {j.config.target for j in bundle_jobs(base)} == {"majority", "soft"}


def test_a_partial_bundle_serves_the_rows_it_can(bundle):
    _, _, _, (partial, report_partial, rows_partial) = bundle
    assert [j.name for j in partial] == ["dropout"]
    assert rows_partial == ["classical", "classical_ts", "mc_dropout"]
    assert "ensemble" in " ".join(report_partial["missing"]) or report_partial["missing"]


def test_train_all_skips_finished_jobs(bundle, capsys):
    out, splits, _, _ = bundle
    assert all(job_finished(out, job) for job in bundle_jobs(TINY_BASE))
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.safetensors")}
    train_all(out, splits["train"], splits["valid"], base=TINY_BASE)
    after = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*.safetensors")}
    assert before == after
    assert "finished earlier, skipped" in capsys.readouterr().out


def test_full_bundle_loads_every_row(bundle):
    out, splits, report, _ = bundle
    assert report["missing"] == []
    methods = load_bundle(out)
    assert list(methods) == [row.key for row in ROWS]
    images = splits["valid"].images[:5]
    for key, method in methods.items():
        samples = mc_predict(method, images, samples=None if key != "mc_dropout" else 4)
        assert samples.shape[1:] == (5, 8)
    assert methods["ensemble"].default_samples == 5
    assert methods["classical_ts"].temperature == pytest.approx(report["temperature"])
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    assert "models.json" in manifest and "ensemble.safetensors" in manifest
    assert "priors.json" in manifest  # each row's training prior, guarded as the rest


def test_every_row_records_its_recipe(bundle):
    """Each row of models.json carries the recipe its networks were trained with: the same for
    every row of a bundle trained on one base, with its own runs and their seeds."""
    out, _, _, _ = bundle
    rows = {row.key: row for row in read_registry(out)}
    recipes = [
        {k: v for k, v in row.training.items() if k not in ("runs", "seeds")}
        for row in rows.values()
    ]
    assert all(recipe == recipes[0] for recipe in recipes)
    assert recipes[0]["epochs"] == TINY_BASE.epochs and recipes[0]["batch_size"] == 8
    assert "seed" not in recipes[0] and "stochastic" not in recipes[0]["network"]
    assert rows["ensemble"].training["runs"] == [
        "dropout",
        "member1",
        "member2",
        "member3",
        "member4",
    ]
    assert rows["ensemble"].training["seeds"] == [0, 1, 2, 3, 4]
    assert rows["classical_ts"].training["runs"] == ["dropout"]
    assert rows["mc_dropconnect"].training["seeds"] == [100]


def test_row_training_refuses_members_trained_differently():
    config = replace(TINY_BASE, method="mc_dropout", target="majority").to_dict()
    runs = {"dropout": {"train": config}, "member1": {"train": {**config, "seed": 1}}}
    assert row_training(runs)["seeds"] == [0, 1]
    runs["member1"] = {"train": {**config, "seed": 1, "epochs": 7, "lr": 0.1}}
    with pytest.raises(
        ValueError, match=r"member1 was trained differently from dropout: \['epochs', 'lr'\]"
    ):
        row_training(runs)
    with pytest.raises(ValueError, match="at least one trained run"):
        row_training({})


def test_placement_narrows_the_mc_rows_only(bundle):
    out, _, _, _ = bundle
    trained = load_bundle(out)
    head = load_bundle(out, placement="head")
    for key, method in head.items():
        network = method.networks[0]
        if method.name.startswith("mc_"):
            assert network.config.placement == "head"
            assert len(network.stochastic_layers) < len(trained[key].networks[0].stochastic_layers)
        else:
            assert network.config.placement == trained[key].networks[0].config.placement
    with pytest.raises(ValueError, match="placement must be one of"):
        load_bundle(out, placement="middle")


def test_a_changed_weight_file_is_refused(bundle, tmp_path):
    import shutil

    out, _, _, _ = bundle
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("runs"))
    target = copy / "dropconnect.safetensors"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    load_bundle(copy, rows=["classical"])  # other files are still fine
    with pytest.raises(
        CheckpointError, match=r"dropconnect\.safetensors: sha256 .* does not match"
    ):
        load_bundle(copy, rows=["mc_dropconnect"])
    with pytest.raises(ValueError, match="unknown row"):
        load_bundle(copy, rows=["bayes"])


def test_an_ensemble_of_the_members_trained_so_far(tmp_path):
    """With 3 of the 5 members trained, the bundle holds a 3-member ensemble, labelled so; with
    2 of the 3 soft-trained ones, a 2-member soft ensemble; with 1, none."""
    from helpers.fakeferplus import write_folder_layout

    root = tmp_path / "data"
    write_folder_layout(root, {"train": 40, "valid": 24})
    splits = load_ferplus(root, cache_dir=False)
    out = tmp_path / "bundle"
    only = ["dropout", "member1", "member2", "soft"]
    train_all(out, splits["train"], splits["valid"], base=TINY_BASE, only=only)
    report = assemble_bundle(out, splits["valid"])
    assert report["ensemble_members"] == only[:3]
    assert report["soft_ensemble_members"] == [] and "soft_member1" in report["missing"]
    rows = {row.key: row for row in read_registry(out)}
    assert rows["ensemble"].label == "Ensemble (3)" and "ensemble_soft" not in rows
    assert load_bundle(out, rows=["ensemble"])["ensemble"].default_samples == 3

    train_all(
        out,
        splits["train"],
        splits["valid"],
        base=TINY_BASE,
        only=["soft_member1"],
    )
    report = assemble_bundle(out, splits["valid"])
    assert report["soft_ensemble_members"] == ["soft", "soft_member1"]
    rows = {row.key: row for row in read_registry(out)}
    assert rows["ensemble_soft"].label == "Ensemble, soft-trained (2)"
    soft_ensemble = load_bundle(out, rows=["ensemble_soft"])["ensemble_soft"]
    assert soft_ensemble.default_samples == 2


def test_every_row_has_its_own_colour():
    # the dashboard keeps a method's colour on every page; two rows sharing one (or a row
    # falling back to the grey default) would make charts ambiguous
    from bnnfer.constants import METHOD_COLORS

    assert all(row.key in METHOD_COLORS for row in ROWS)
    colours = [METHOD_COLORS[row.key] for row in ROWS] + [METHOD_COLORS["human"]]
    assert len(set(colours)) == len(colours)


def test_the_recipe_uses_bf16_only_where_it_is_faster(monkeypatch):
    import torch

    from bnnfer.inference import mc as inference

    assert BUNDLE_TRAINING.precision == "auto"
    cpu = torch.device("cpu")
    monkeypatch.setattr(inference, "bf16_pays", lambda device: False)
    assert inference.autocast_dtype(BUNDLE_TRAINING.precision, cpu) is None  # fp32 there
    monkeypatch.setattr(inference, "bf16_pays", lambda device: True)
    assert inference.autocast_dtype(BUNDLE_TRAINING.precision, cpu) is torch.bfloat16


def test_one_process_per_core_at_most_one_per_job():
    assert cpu_processes(jobs=7, cores=2) == 2  # the 2-core case: two single-threaded runs
    assert cpu_processes(jobs=7, cores=16) == 7
    assert cpu_processes(jobs=1, cores=2) == 1
    assert cpu_processes(jobs=7, cores=2, requested=4) == 4  # asked for: more than cores
    assert cpu_processes(jobs=3, cores=8, requested=1) == 1
    with pytest.raises(ValueError, match="at least one job and one core"):
        cpu_processes(jobs=0, cores=2)


def test_jobs_are_dealt_out_by_epochs():
    # jobs of unequal length (the soft ones 24 epochs, the rest 15, as an earlier recipe had)
    jobs = [
        replace(j, config=replace(j.config, epochs=24 if "soft" in j.name else 15))
        for j in bundle_jobs()
    ]
    shares = share_jobs(jobs, 2)
    names = [[job.name for job in share] for share in shares]
    # 2 x 24 + 2 x 15 against 24 + 4 x 15: the busier process has 84 epochs, where dealing
    # the nine jobs in turn would give one 3 x 24 + 15 = 93
    assert sorted(sum(j.config.epochs for j in share) for share in shares) == [78, 84]
    assert sorted(n for share in names for n in share) == sorted(job.name for job in jobs)
    assert all(n == [j.name for j in jobs if j.name in n] for n in names)  # in order
    # equal jobs: five to one process, four to the other
    assert sorted(len(share) for share in share_jobs(bundle_jobs(), 2)) == [4, 5]
    assert [len(share) for share in share_jobs(bundle_jobs()[:1], 3)] == [1, 0, 0]
    with pytest.raises(ValueError, match="workers must be at least 1"):
        share_jobs(bundle_jobs(), 0)


def test_a_resumed_run_is_dealt_out_by_what_is_left():
    """Four 60-epoch jobs, the first and third 50 epochs in: by what is left each process gets
    an untouched job and a nearly done one (70 each), where dealing by the configs' epochs
    would give one process both untouched jobs (120 against 20)."""
    jobs = [replace(j, config=replace(j.config, epochs=60)) for j in bundle_jobs()[:4]]
    left = [10, 60, 10, 60]
    shares = share_jobs(jobs, 2, left)
    assert [[j.name for j in share] for share in shares] == [
        ["dropout", "dropconnect"],
        ["soft", "member1"],
    ]
    by_config = share_jobs(jobs, 2)
    assert [[j.name for j in share] for share in by_config] == [
        ["dropout", "soft"],
        ["dropconnect", "member1"],
    ]
    with pytest.raises(ValueError, match="2 epoch counts for 4 jobs"):
        share_jobs(jobs, 2, [10, 60])


def test_a_job_weighs_every_network_and_swa_epoch_it_trains():
    """Dealt out by default by all a config trains: an ensemble of 3 at 10 epochs is 30, a
    network with 2 SWA epochs after 10 is 12, so the ensemble goes first, alone."""
    ensemble = replace(TINY_BASE, method="ensemble", members=3, epochs=10)
    swa = replace(TINY_BASE, epochs=10, swa_epochs=2)
    assert (ensemble.epochs_to_train, swa.epochs_to_train) == (30, 12)
    jobs = [Job("swa", swa), Job("swa2", swa), Job("ensemble", ensemble)]
    shares = share_jobs(jobs, 2)
    assert [[j.name for j in share] for share in shares] == [["ensemble"], ["swa", "swa2"]]


def test_remaining_epochs_reads_the_saved_states(tmp_path):
    """A job's epochs less those its states of the same config hold; 0 once finished."""
    job = replace(bundle_jobs(TINY_BASE)[0], config=replace(TINY_BASE, epochs=60))
    assert remaining_epochs(tmp_path, job) == 60  # nothing saved yet
    state_dir = tmp_path / "runs" / f"{job.name}.state"
    state_dir.mkdir(parents=True)
    state = {"config": job.config.resume_key(), "epoch": 45}
    (state_dir / "member0.last.json").write_text(json.dumps(state))
    assert remaining_epochs(tmp_path, job) == 15
    other = {"config": replace(job.config, lr=1.0).resume_key(), "epoch": 45}
    (state_dir / "member0.last.json").write_text(json.dumps(other))
    assert remaining_epochs(tmp_path, job) == 60  # another config's state is not this run's
    (state_dir / "member0.last.json").write_text("{not json")
    assert remaining_epochs(tmp_path, job) == 60


def test_remaining_epochs_of_finished_jobs_is_zero(bundle):
    out, *_ = bundle
    assert all(remaining_epochs(out, job) == 0 for job in bundle_jobs(TINY_BASE))


def test_two_cpu_workers_train_every_job_once(tmp_path):
    """Two processes split the jobs; each network is trained once, with the same config as
    the one-process path, so a later train-all finds them all finished."""
    from helpers.fakeferplus import write_folder_layout

    root = tmp_path / "data"
    write_folder_layout(root, {"train": 40, "valid": 24})
    splits = load_ferplus(root, cache_dir=False)
    out = tmp_path / "bundle"
    base = replace(TINY_BASE, device="cpu", precision="fp32")
    only = ["dropout", "member1", "member2"]
    with pytest.raises(ValueError, match="workers must be at least 1"):
        train_all(out, splits["train"], splits["valid"], base=base, only=only, workers=0)
    train_all(out, splits["train"], splits["valid"], base=base, only=only, workers=2)
    jobs = [j for j in bundle_jobs(base) if j.name in only]
    assert all(job_finished(out, job) for job in jobs)
    trained = {p.stem for p in (out / "runs").glob("*.safetensors")}
    assert trained == set(only)
    # each epoch trained with its process's share of this machine's cores (test_cores.py)
    cores = torch.get_num_threads()
    for name in only:
        history = json.loads((out / "runs" / f"{name}.json").read_text())["metadata"]["history"]
        assert all(1 <= h["threads"] <= cores for h in history)


def test_every_shipped_row_records_the_one_recipe():
    """The shipped bundle compares methods on one budget: every row's networks were trained
    with the same recipe, the current `BUNDLE_TRAINING`'s."""
    rows = read_registry()
    recipes = [
        {k: v for k, v in row.training.items() if k not in ("runs", "seeds")} for row in rows
    ]
    assert len(rows) == len(ROWS) and all(recipe == recipes[0] for recipe in recipes)
    for field in ("epochs", "batch_size", "lr", "weight_decay", "optimizer", "schedule", "augment"):
        assert recipes[0][field] == getattr(BUNDLE_TRAINING, field), field
    assert recipes[0]["network"]["block_rate"] == BUNDLE_TRAINING.network.block_rate
