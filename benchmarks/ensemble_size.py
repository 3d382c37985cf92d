"""How an ensemble's accuracy and JSD grow with its members, and where more members would lead.

The sharper-networks issue asks for an ensemble at 88% under the Barsoum protocol on Valid. An
ensemble row's samples are its members' predictive distributions, so the shipped evaluation
(`bnnfer/assets/evaluation/predictions-valid.npz`, no dataset needed) holds every sub-ensemble:
for each ensemble row and each size M, the mean over all ``C(K, M)`` subsets of its K members of
the sub-ensemble's Barsoum accuracy, plurality accuracy and mean JSD to the votes.

Members of one recipe are exchangeable draws, and an ensemble's expected score approaches its
infinite-ensemble value as ``score(M) = a - b / M`` (the variance part of the members' error
falls as 1/M; Lakshminarayanan et al. 2017 and Fort et al. 2019 show the same shape). The fit
over M = 1..K, least squares on the subset means, gives ``a``: the score more members of the
same recipe would approach, and ``a - score(K)`` what they would add to the K-member ensemble.
Both have 95% intervals that resample the faces (1,000 resamples, the same faces for every
subset); the gain's is the narrower, since the level of all sizes moves together. The fit's
RMS residual says how well the curve has bent toward its limit. It is an extrapolation from
K members, not a bound on other recipes. Writes ``benchmarks/results/ensemble_size.json``:

    python benchmarks/ensemble_size.py
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import bench
import numpy as np

from bnnfer.data.votes import barsoum_majority, plurality_label, vote_distribution
from bnnfer.evaluation.metrics import js_divergence
from bnnfer.evaluation.predictions import read_predictions

ROOT = Path(__file__).resolve().parents[1]
SCORES = ("accuracy_majority", "accuracy", "jsd")


def fit_inverse_size(sizes: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``score = a - b / M`` over ``sizes`` M ``(K,)`` and
    ``scores`` ``(K,)``; ``a`` is the infinite-ensemble limit."""
    design = np.stack([np.ones_like(sizes, dtype=float), -1.0 / sizes], axis=1)  # (K, 2)
    (a, b), *_ = np.linalg.lstsq(design, scores, rcond=None)
    return float(a), float(b)


@dataclass(frozen=True)
class VoteTargets:
    """What an ensemble's mean is scored against, read once from the votes ``(N, C)``: the
    Barsoum-protocol faces ``(N,)`` and their labels ``(N,)``, the plurality label ``(N,)`` and
    the vote distribution ``(N, C)``."""

    majority: np.ndarray
    majority_labels: np.ndarray
    plurality: np.ndarray
    distribution: np.ndarray

    @classmethod
    def of(cls, votes: np.ndarray) -> VoteTargets:
        majority, majority_labels = barsoum_majority(votes)
        return cls(majority, majority_labels, plurality_label(votes), vote_distribution(votes))


def per_face_scores(
    members: np.ndarray, subset: tuple[int, ...], targets: VoteTargets
) -> dict[str, np.ndarray]:
    """Per-face scores ``(N,)`` of the ensemble of ``members[subset]`` (members ``(K, N, C)``):
    correct under the Barsoum protocol (NaN off its faces), correct on the plurality label,
    JSD to the vote distribution."""
    mean = members[list(subset)].mean(0)  # (N, C)
    predicted = mean.argmax(1)
    return {
        "accuracy_majority": np.where(
            targets.majority, predicted == targets.majority_labels, np.nan
        ),
        "accuracy": (predicted == targets.plurality).astype(float),
        "jsd": js_divergence(mean, targets.distribution),
    }


def size_curve(members: np.ndarray, votes: np.ndarray, n_boot: int, seed: int) -> dict[str, object]:
    """Mean score of every sub-ensemble size and the fitted limit, with its interval."""
    count = len(members)
    sizes = np.arange(1, count + 1)
    # per size, per score: (subsets, N) per-face scores
    faces: dict[int, dict[str, np.ndarray]] = {}
    targets = VoteTargets.of(votes)
    for size in sizes:
        subsets = [
            per_face_scores(members, s, targets) for s in itertools.combinations(range(count), size)
        ]
        faces[int(size)] = {k: np.stack([s[k] for s in subsets]) for k in SCORES}

    def curve(index: np.ndarray) -> dict[str, np.ndarray]:
        # (K,) per score: the mean over subsets and the resampled faces
        return {
            k: np.array([np.nanmean(faces[int(m)][k][:, index]) for m in sizes]) for k in SCORES
        }

    everything = np.arange(votes.shape[0])
    point = curve(everything)
    rng = np.random.default_rng(seed)
    limits: dict[str, list[float]] = {k: [] for k in SCORES}
    gains: dict[str, list[float]] = {k: [] for k in SCORES}
    for _ in range(n_boot):
        resampled = curve(rng.integers(0, len(everything), len(everything)))
        for k in SCORES:
            limit = fit_inverse_size(sizes, resampled[k])[0]
            limits[k].append(limit)
            gains[k].append(limit - resampled[k][-1])
    result: dict[str, object] = {"members": count, "sizes": sizes.tolist()}
    for k in SCORES:
        a, b = fit_inverse_size(sizes, point[k])
        low, high = np.percentile(limits[k], [2.5, 97.5])
        gain_low, gain_high = np.percentile(gains[k], [2.5, 97.5])
        residual = point[k] - (a - b / sizes)
        result[k] = {
            "by_size": point[k].tolist(),
            "limit": [a, float(low), float(high)],
            "gain_over_all_members": [a - point[k][-1], float(gain_low), float(gain_high)],
            "slope": b,
            "rms_residual": float(np.sqrt(np.mean(residual**2))),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--predictions", default=str(ROOT / "bnnfer/assets/evaluation/predictions-valid.npz")
    )
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/ensemble_size.json"))
    args = parser.parse_args(argv)

    meta, arrays = read_predictions(args.predictions)
    votes = arrays["votes"]
    rows = {}
    for row in bench.ENSEMBLE_ROWS:
        if f"{row}.samples" not in arrays:
            print(f"{row}: skipped, {Path(args.predictions).name} lacks it", flush=True)
            continue
        members = arrays[f"{row}.samples"].astype(np.float32)  # (K, N, C)
        rows[row] = size_curve(members, votes, args.n_boot, seed=0)
        print(row, json.dumps(rows[row]), flush=True)
    document = {
        "split": meta.get("split", "valid"),
        "faces": len(votes),
        "faces_majority": int(barsoum_majority(votes)[0].sum()),
        "source": Path(args.predictions).name,
        "models_digest": meta.get("models_digest"),
        "n_boot": args.n_boot,
        "rows": rows,
    }
    bench.write_json(args.out, document)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
