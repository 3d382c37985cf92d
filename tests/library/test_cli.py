"""The `bnnfer` command line: help texts, `data info` (text and JSON), `train`, and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bnnfer.cli import main


def test_help_of_every_command_explains_itself(capsys):
    for argv in (["--help"], ["data", "--help"], ["data", "info", "--help"], ["train", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "class balance" in out
    # training options come from the dataclasses, with the fields' metadata as help
    assert "--block-rate" in out and "drop probability in stochastic stages" in out
    assert "--target {soft,majority,pld}" in out


def test_train_help_explains_every_option(capsys):
    """Every `bnnfer train` option has a help line of its own, not just its default (the
    dataclass options take theirs from each field's ``metadata["help"]``)."""
    import argparse

    from bnnfer.cli import build_parser

    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    train = commands.choices["train"]
    options = [a for a in train._actions if not isinstance(a, argparse._HelpAction)]
    assert len(options) > 20
    for action in options:
        assert action.help and action.help.split("(default")[0].strip(), action.option_strings
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--epochs", "--batch-size", "--weight-decay", "--precision", "--widths"):
        assert flag in out
    assert "passes over FER+ Train per network" in out  # --epochs, once without a help line


def test_data_info_prints_per_split_summary(fake_ferplus, capsys):
    root, _ = fake_ferplus
    assert main(["data", "info", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert "train: 37 faces kept, 3 dropped (plurality unknown 1, NF 1, no emotion vote 1)" in out
    assert "valid: 21 faces kept" in out and "test: 13 faces kept" in out
    assert "mean vote entropy" in out and "unanimous" in out


def test_data_info_json_and_env_variable(fake_ferplus, capsys, monkeypatch):
    root, _ = fake_ferplus
    monkeypatch.setenv("BNNFER_DATA", str(root))
    assert main(["data", "info", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["split"] for s in document["splits"]] == ["train", "valid", "test"]
    assert document["splits"][1]["faces"] == 21


def test_missing_data_is_one_line_error_and_exit_2(tmp_path, capsys):
    assert main(["data", "info", "--data", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bnnfer: error: ") and "absent: no such folder" in err


def test_train_command_writes_a_checkpoint(fake_ferplus, tmp_path, capsys):
    root, _ = fake_ferplus
    out = tmp_path / "run" / "net"
    argv = [
        "train",
        "--data",
        str(root),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--widths",
        "4",
        "8",
        "--convs-per-stage",
        "1",
        "--head-width",
        "8",
        "--no-augment",
        "--augment-strength",
        "0.5",
    ]
    assert main(argv) == 0
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["network"]["widths"] == [4, 8]
    assert document["metadata"]["train"]["augment"] is False
    assert document["metadata"]["train"]["augment_strength"] == 0.5
    assert "wrote" in capsys.readouterr().out


def test_train_defaults_are_the_bundle_recipe():
    """`bnnfer train` with no option trains the bundled dropout network's recipe, and with the
    soft job's target and seed its config is that job's: a bundled row is reproduced without
    restating the recipe."""
    from dataclasses import replace

    from bnnfer.cli import build_parser, train_config
    from bnnfer.training.bundle import BUNDLE_TRAINING, bundle_jobs

    parser = build_parser()
    assert train_config(parser.parse_args(["train", "--out", "x"])) == BUNDLE_TRAINING
    jobs = {job.name: job.config for job in bundle_jobs()}
    argv = ["train", "--out", "x", "--method", "mc_dropout"]
    soft = train_config(parser.parse_args([*argv, "--target", "soft", "--seed", "300"]))
    assert soft == jobs["soft"]
    majority = train_config(parser.parse_args([*argv, "--target", "majority", "--seed", "3"]))
    assert majority == jobs["member3"] == replace(BUNDLE_TRAINING, target="majority", seed=3)


def test_train_command_builds_a_separable_network(fake_ferplus, tmp_path):
    root, _ = fake_ferplus
    out = tmp_path / "sep"
    argv = ["train", "--data", str(root), "--out", str(out), "--epochs", "1"]
    argv += ["--batch-size", "8", "--widths", "4", "8", "--head-width", "8", "--no-augment"]
    assert main([*argv, "--family", "separable"]) == 0
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["network"]["family"] == "separable"
    assert document["metadata"]["train"]["network"]["family"] == "separable"
    with pytest.raises(SystemExit):  # argparse: an invalid choice
        main([*argv, "--family", "resnet"])


def test_console_script_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "bnnfer.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "data" in result.stdout and "train" in result.stdout


def test_dashboard_hands_its_other_options_to_streamlit(monkeypatch):
    """`bnnfer dashboard` runs `streamlit run` on the installed entry script with every option
    it does not know; every other command still refuses an option it does not know."""
    from streamlit.web import cli as streamlit_cli

    calls = []
    monkeypatch.setattr(streamlit_cli, "main", lambda args, prog_name: calls.append(args))
    assert main(["dashboard", "--server.port", "8599", "--server.headless", "true"]) == 0
    ((run, entry, *options),) = calls
    assert run == "run" and entry.endswith("bnnfer_dashboard/app.py")
    assert options == ["--server.port", "8599", "--server.headless", "true"]
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "info", "--server.port", "8599"])
    assert exit_info.value.code == 2


def test_the_command_line_imports_no_streamlit():
    """Only `bnnfer dashboard` imports streamlit, when it runs."""
    code = "import sys, bnnfer.cli; print('streamlit' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
