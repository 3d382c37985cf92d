"""Distillation targets: a trained row's predictive distribution on every training face.

Distilling an ensemble into one network (Hinton et al., 2015) teaches the student the teacher's
predictive mean ``mean_s p_s(y | x)`` in place of the votes. On FER+ that mean is smoother than
ten annotators' counts on the faces they split over, and closer to them in JSD than a single
network is (docs/results.md), so a student that learns it could keep the ensemble's JSD at the
cost of one forward pass.

The teacher is run once, on the training faces as they are (no augmentation: an augmented face
is taught its unaugmented face's distribution, as it is taught its votes), in fp32 whatever the
CPU, so the same teacher gives the same targets everywhere. `bnnfer.training.train.fit` takes
the `Teacher`; ``bnnfer train --teacher ROW`` builds it from the bundled models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.split import FerPlusSplit
from ..inference.mc import mc_predict
from ..models.methods import Method


@dataclass(frozen=True)
class Teacher:
    """A row's distributions on the training faces, and what identifies them."""

    row: str  # the bundle row, e.g. "ensemble_soft"
    models_digest: str  # the bundle's manifest digest (`bnnfer.evaluation.predictions`)
    samples: int  # S averaged per face (an ensemble's members, MC draws, 1 for a classical row)
    distribution: np.ndarray  # float32 (N, C), each row sums to 1

    def describe(self) -> dict[str, Any]:
        """What a checkpoint records of its teacher (not the distributions)."""
        return {"row": self.row, "models_digest": self.models_digest, "samples": self.samples}


def teacher_distribution(
    row: str,
    methods: Mapping[str, Method],
    split: FerPlusSplit,
    models_digest: str,
    samples: int = 30,
    seed: int = 0,
    batch_size: int = 256,
) -> Teacher:
    """The predictive mean ``(N, C)`` of ``methods[row]`` on ``split``'s faces: the mean over
    its ``(S, N, C)`` samples (``samples`` MC draws for an MC row, every member of an
    ensemble, one pass of a classical row), in fp32 with ``seed``."""
    if row not in methods:
        raise ValueError(f"teacher row {row!r} is not among the loaded rows {sorted(methods)}")
    method = methods[row]
    draws = samples if method.sampled else None
    probs = mc_predict(method, split.images, draws, batch_size, seed=seed, precision="fp32")
    mean = probs.double().mean(dim=0)  # (N, C)
    mean = mean / mean.sum(dim=1, keepdim=True)
    return Teacher(row, models_digest, int(probs.shape[0]), mean.float().numpy())
