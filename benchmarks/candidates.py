"""Candidate networks against the bundled row each would replace, on Valid: the test bench of
the levers toward sharper networks (longer training, other targets, widths, seeds).

A candidate is a checkpoint stem trained with ``bnnfer train`` (``STEM.safetensors``,
``STEM.json`` with its training history), or stems joined by ``+``: an ensemble of their
networks, which serves the ``ensemble`` row only. Each is scored as the rows its
checkpoint serves (``classical`` is the deterministic pass, ``mc_dropout`` / ``mc_dropconnect``
S samples over the layers it was trained to drop, ``ensemble`` its members), and compared, face
by face, with the bundled row named by ``--against``, whose samples come from the shipped
evaluation (`bnnfer/assets/evaluation/predictions-valid.npz`, float16), so the bundle is not rerun.

Per candidate row: accuracy on the plurality label of all faces and under the Barsoum protocol
(`bnnfer.data.votes.barsoum_majority`), mean JSD to the votes and human ECE, each with its paired
difference from the bundled row and a 95% bootstrap interval
(`bnnfer.evaluation.metrics.bootstrap_ci`, both rows resampled on the same faces); plus the
candidate's Valid accuracy per epoch from its checkpoint's training history, to show whether it was
still rising. Writes
``benchmarks/results/candidates.json``:

    python benchmarks/candidates.py --data ../shared/data/ferplus \\
        --candidate runs/longer/soft_e24 --against classical_soft mc_dropout_soft
    python benchmarks/candidates.py --data ../shared/data/ferplus --against ensemble \\
        --candidate runs/longer/soft_e24+runs/longer/soft_e24_s301 --out OTHER.json

``ROW=METHOD`` compares the candidate's ``METHOD`` with bundled row ``ROW`` whatever row would
serve it: ``--against ensemble_soft=classical`` sets a distilled network's single pass beside
the ensemble it learnt from.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bench
import numpy as np

from bnnfer import build_method, load_ferplus
from bnnfer.data.votes import barsoum_majority, plurality_label, vote_distribution
from bnnfer.evaluation.metrics import accuracy, bootstrap_ci, human_ece, js_divergence
from bnnfer.evaluation.predictions import read_predictions
from bnnfer.inference.mc import mc_predict
from bnnfer.models.checkpoints import load_networks

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "bnnfer/assets/evaluation/predictions-valid.npz"
# bundled row -> the method a candidate's checkpoint must serve to stand in for it
ROW_METHOD = {
    "classical": "classical",
    "classical_soft": "classical",
    "mc_dropout": "mc_dropout",
    "mc_dropout_soft": "mc_dropout",
    "mc_dropconnect": "mc_dropconnect",
    "ensemble": "ensemble",
    "ensemble_soft": "ensemble",
}


def row_scores(
    mean: np.ndarray, votes: np.ndarray, reference: np.ndarray, n_boot: int
) -> dict[str, list[float]]:
    """Each figure of the predictive mean ``(N, C)`` and its paired difference from the
    reference row's mean ``(N, C)``: ``[point, low, high]`` with 95% bootstrap bounds."""
    labels, distribution = plurality_label(votes), vote_distribution(votes)
    keep, majority_labels = barsoum_majority(votes)
    figures = {
        "accuracy": lambda p, y, d, v: accuracy(p, y),
        "accuracy_majority": lambda p, y, d, v: accuracy(p[keep[v]], majority_labels[v][keep[v]]),
        "jsd": lambda p, y, d, v: float(js_divergence(p, d).mean()),
        "human_ece": lambda p, y, d, v: human_ece(p, d),
    }
    index = np.arange(len(votes))  # resampled with the rows, to find each face's votes and subset
    scores: dict[str, list[float]] = {}
    for name, figure in figures.items():
        scores[name] = list(bootstrap_ci(figure, [mean, labels, distribution, index], n_boot))
        scores[f"{name}_minus_bundled"] = list(
            bootstrap_ci(
                lambda p, q, y, d, v, f=figure: f(p, y, d, v) - f(q, y, d, v),
                [mean, reference, labels, distribution, index],
                n_boot,
            )
        )
    return scores


def against(spec: str) -> tuple[str, str]:
    """``(bundled row, candidate method)`` of an ``--against`` value: ``ROW`` (the method that
    serves that row) or ``ROW=METHOD``."""
    row, _, method = spec.partition("=")
    if row not in ROW_METHOD:
        raise argparse.ArgumentTypeError(
            f"unknown bundled row {row!r}; known: {sorted(ROW_METHOD)}"
        )
    methods = sorted(set(ROW_METHOD.values()))
    if method and method not in methods:
        raise argparse.ArgumentTypeError(f"unknown method {method!r}; known: {methods}")
    return row, method or ROW_METHOD[row]


def epochs(document: dict) -> list[dict[str, float]]:
    """``[{epoch, valid_accuracy}]`` of the first network in a checkpoint's training history
    (its deterministic pass on Valid after each epoch, as `bnnfer.training.train` logs it)."""
    history = document.get("metadata", {}).get("history", [])
    return [
        {"epoch": r["epoch"], "valid_accuracy": r["valid_accuracy"]}
        for r in history
        if r.get("member", 0) == 0 and "valid_accuracy" in r
    ]


def load_candidate(spec: str) -> tuple[str, list, dict]:
    """``(name, networks, checkpoint document)`` of a candidate: one checkpoint stem, or stems
    joined by ``+``, whose networks (one config) form an ensemble serving ``ensemble`` only;
    its document lists each part's training config and seconds."""
    stems = spec.split("+")
    loaded = [load_networks(stem) for stem in stems]
    if len(stems) == 1:
        nets, document = loaded[0]
        return Path(spec).name, nets, document
    nets = [net for part, _ in loaded for net in part]
    if any(net.config != nets[0].config for net in nets):
        raise SystemExit(f"{spec}: the networks of an ensemble must share one architecture")
    parts = [document.get("metadata", {}) for _, document in loaded]
    document = {
        "methods": ["ensemble"],
        "metadata": {
            "train": [part.get("train") for part in parts],
            "training_seconds": sum(part.get("training_seconds") or 0 for part in parts),
        },
    }
    return "+".join(Path(stem).name for stem in stems), nets, document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER+ folder")
    parser.add_argument(
        "--candidate", nargs="+", required=True, help="checkpoint stems (A+B: an ensemble)"
    )
    parser.add_argument(
        "--against",
        nargs="+",
        required=True,
        type=against,
        help=f"bundled rows ({', '.join(sorted(ROW_METHOD))}), each ROW or ROW=METHOD",
    )
    parser.add_argument("--evaluation", default=str(SHIPPED), help="the bundle's predictions")
    parser.add_argument("--samples", type=int, default=30, help="S of the MC rows")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/candidates.json"))
    args = parser.parse_args(argv)

    # every candidate must serve every row asked for: checked before any face is read
    loaded = {spec: load_candidate(spec) for spec in args.candidate}
    for spec, (_, _, document) in loaded.items():
        for row, method in args.against:
            if method not in document["methods"]:
                raise SystemExit(f"{spec} does not serve {method} (bundled row {row})")
    meta, shipped = read_predictions(args.evaluation)
    split = load_ferplus(args.data, splits=["valid"])["valid"]
    if list(shipped["names"]) != list(split.names):
        raise SystemExit(
            f"{args.evaluation} was computed on other faces than {args.data}'s Valid split"
        )
    candidates = {}
    for name, nets, document in loaded.values():
        rows = {}
        for row, method in args.against:
            started = time.perf_counter()
            predictor = build_method(method, nets, samples=args.samples).eval()
            samples = mc_predict(
                predictor,
                split.images,
                samples=args.samples if predictor.sampled else None,
                seed=0,
                precision="fp32",
            ).numpy()  # (S, N, C)
            reference = shipped[f"{row}.samples"].astype(np.float32).mean(0)  # (N, C)
            key = row if method == ROW_METHOD[row] else f"{row}={method}"
            rows[key] = {
                "method": method,
                **row_scores(samples.mean(0), split.votes, reference, args.n_boot),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(name, key, json.dumps(rows[key]), flush=True)
        metadata = document.get("metadata", {})
        candidates[name] = {
            "train": metadata.get("train"),
            "training_seconds": metadata.get("training_seconds"),
            "epochs": epochs(document),
            "rows": rows,
        }
    document = {
        "split": "valid",
        "faces": len(split),
        "faces_majority": int(barsoum_majority(split.votes)[0].sum()),
        "samples": args.samples,
        "n_boot": args.n_boot,
        "bundled": meta.get("models_digest"),
        **bench.machine(),
        "candidates": candidates,
    }
    bench.write_json(args.out, document)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
