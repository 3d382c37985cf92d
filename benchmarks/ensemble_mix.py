"""Soft-trained networks as ensemble members, one of the levers toward sharper networks.

The bundle's deep ensemble is five networks trained on the plurality label; one more bundled
network was trained on the vote distribution (soft targets) and is more accurate than any
member. It serves two rows, ``classical_soft`` (its deterministic pass) and ``mc_dropout_soft``
(its MC samples); the mixtures take it once, by its deterministic pass as the ensemble takes
its members, so that one network never counts twice. Averaging it with the members measures,
without training anything, what a soft-trained member would add to an ensemble. The bundle's
soft-trained ensemble (``ensemble_soft``, its first member that same network) is mixed the same
way, member by member; a mixture whose rows the predictions file lacks is skipped.

Reads the shipped evaluation (`bnnfer/assets/evaluation/predictions-valid.npz`: the votes and every
row's samples, float16), so it needs no dataset. Per mixture of networks (each network's
predictive mean weighs the same): accuracy on the plurality label of all faces and under the
Barsoum protocol, mean JSD to the votes, and the Barsoum accuracy's paired difference from the
bundled ensemble with a 95% bootstrap interval. Writes ``benchmarks/results/ensemble_mix.json``:

    python benchmarks/ensemble_mix.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import bench
import numpy as np

from bnnfer.data.votes import barsoum_majority, plurality_label, vote_distribution
from bnnfer.evaluation.metrics import accuracy, bootstrap_ci, js_divergence
from bnnfer.evaluation.predictions import read_predictions

ROOT = Path(__file__).resolve().parents[1]
# mixture -> the networks it averages: an ensemble row stands for its members, an MC row for
# its predictive mean over its S samples
MIXTURES = {
    "ensemble (5 plurality-trained members)": ["ensemble"],
    "soft-trained network (1)": ["classical_soft"],
    "ensemble + soft-trained network (6)": ["ensemble", "classical_soft"],
    "soft-trained ensemble (3)": ["ensemble_soft"],
    "ensemble + soft-trained ensemble (8)": ["ensemble", "ensemble_soft"],
}


def networks(arrays: dict[str, np.ndarray], rows: list[str]) -> np.ndarray:
    """``(K, N, C)``: the predictive mean of each network in ``rows``: an ensemble row gives
    one per member (its samples are its members), an MC row one (the mean of its samples)."""
    means = []
    for row in rows:
        samples = arrays[f"{row}.samples"].astype(np.float32)  # (S, N, C)
        means.extend(samples if row in bench.ENSEMBLE_ROWS else samples.mean(0, keepdims=True))
    return np.stack(means)


def paired_interval(
    correct: np.ndarray, reference: np.ndarray, n_boot: int, seed: int
) -> list[float]:
    """Mean of ``correct - reference`` (booleans per face) with its 95% paired bootstrap
    interval (`bnnfer.evaluation.metrics.bootstrap_ci`, both resampled on the same faces)."""
    return list(
        bootstrap_ci(
            lambda a, b: float(np.mean(a.astype(float) - b)),
            [correct, reference],
            n_boot,
            seed=seed,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--predictions", default=str(ROOT / "bnnfer/assets/evaluation/predictions-valid.npz")
    )
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/ensemble_mix.json"))
    args = parser.parse_args(argv)

    meta, arrays = read_predictions(args.predictions)
    votes = arrays["votes"]
    labels, distribution = plurality_label(votes), vote_distribution(votes)
    majority, majority_labels = barsoum_majority(votes)
    reference = None
    mixtures = {}
    for name, rows in MIXTURES.items():
        if not all(f"{row}.samples" in arrays for row in rows):
            print(f"{name}: skipped, {Path(args.predictions).name} lacks its rows", flush=True)
            continue
        members = networks(arrays, rows)
        mean = members.mean(0)  # (N, C)
        correct = mean[majority].argmax(1) == majority_labels[majority]
        reference = correct if reference is None else reference
        mixtures[name] = {
            "rows": rows,
            "networks": len(members),
            "accuracy": accuracy(mean, labels),
            "accuracy_majority": float(correct.mean()),
            "jsd": float(js_divergence(mean, distribution).mean()),
            "accuracy_majority_minus_ensemble": paired_interval(
                correct, reference, args.n_boot, seed=0
            ),
        }
        print(name, json.dumps(mixtures[name]), flush=True)
    document = {
        "split": meta.get("split", "valid"),
        "faces": len(votes),
        "faces_majority": int(majority.sum()),
        "source": Path(args.predictions).name,
        "n_boot": args.n_boot,
        "mixtures": mixtures,
    }
    bench.write_json(args.out, document)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
