"""Training targets from FER+ votes, and the torch Dataset that serves (face, target) pairs.

Three targets, chosen by name (each a distribution over the 8 emotions, so one soft
cross-entropy loss ``-sum_c t[c] log q[c]`` trains them all):

* ``soft``: the renormalised vote distribution (the default);
* ``majority``: one-hot plurality label; with ``strict_majority`` only faces whose top class
  holds more than half of the emotion votes are kept (Barsoum et al.'s majority rule);
* ``pld``: a label drawn from the vote distribution each time the face is seen (probabilistic
  label drawing), so an ambiguous face is taught as ambiguous over the epochs.

The distribution behind ``soft`` and ``pld`` is the votes' unless another is given: a teacher's
predictive distribution per face, for distillation (`bnnfer.training.distill`).

Two batch-level changes apply to any of them (`bnnfer.training.train` options, off by default):

* `smooth_targets`: label smoothing, ``(1 - e) t + e / C``;
* `mix_batch`: mixup (Zhang et al., 2018) on faces and their vote distributions alike.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ..constants import NUM_CLASSES
from .split import FerPlusSplit
from .transforms import to_input
from .votes import plurality_label, vote_distribution

TargetKind = Literal["soft", "majority", "pld"]
TARGETS: tuple[str, ...] = ("soft", "majority", "pld")


def smooth_targets(targets: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Label smoothing: ``(1 - epsilon) t + epsilon / C`` for targets ``(B, C)``; each row still
    sums to 1, and a one-hot row keeps ``1 - epsilon + epsilon / C`` on its class."""
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must be in [0, 1), got {epsilon}")
    return targets * (1.0 - epsilon) + epsilon / targets.shape[-1]


def mix_batch(
    images: torch.Tensor, targets: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: ``l x + (1 - l) x[perm]`` for the faces ``(B, 1, H, W)`` and the same for their
    targets ``(B, C)``, with one ``l ~ Beta(alpha, alpha)`` and one random permutation per
    batch, both drawn from torch's global generator (which a resumed run restores)."""
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if len(images) != len(targets):
        raise ValueError(f"{len(images)} images but {len(targets)} targets")
    weight = torch.distributions.Beta(alpha, alpha).sample().item()
    perm = torch.randperm(len(images), device=images.device)
    mixed_images = images * weight + images[perm] * (1.0 - weight)
    return mixed_images, targets * weight + targets[perm] * (1.0 - weight)


def check_distribution(distribution: np.ndarray, faces: int) -> None:
    """A ValueError unless ``distribution`` is ``(faces, C)``, finite, non-negative, and each row
    sums to 1 (within 1e-3)."""
    shape = (faces, NUM_CLASSES)
    if np.shape(distribution) != shape:
        raise ValueError(f"distribution must be {shape}, got {np.shape(distribution)}")
    values = np.asarray(distribution, np.float64)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("distribution holds negative or non-finite values")
    worst = float(np.abs(values.sum(axis=1) - 1.0).max()) if faces else 0.0
    if worst > 1e-3:
        raise ValueError(f"each row of distribution must sum to 1; one is off by {worst:.3g}")


def majority_mask(votes: np.ndarray) -> np.ndarray:
    """bool ``(N,)``: the top emotion holds strictly more than half the emotion votes."""
    return vote_distribution(votes).max(axis=1) > 0.5


class FerPlusTargets(Dataset):
    """(face, target) pairs: float ``(1, 48, 48)`` in [0, 1] and float ``(8,)`` summing to 1.

    Args:
        split: the faces and votes.
        target: ``"soft"``, ``"majority"`` or ``"pld"``.
        transform: applied to each float face (augmentation); None for none.
        strict_majority: with ``target="majority"``, keep only faces with a >50% top class.
        distribution: float ``(N, C)``, one distribution per face of ``split``, taught by
            ``soft`` and ``pld`` in place of the votes' (a teacher's, for distillation).
    """

    def __init__(
        self,
        split: FerPlusSplit,
        target: TargetKind = "soft",
        transform: torch.nn.Module | None = None,
        strict_majority: bool = False,
        distribution: np.ndarray | None = None,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if strict_majority and target != "majority":
            raise ValueError("strict_majority applies to target='majority' only")
        if distribution is not None:
            check_distribution(distribution, len(split))
            if target == "majority":
                raise ValueError("a given distribution is taught by target 'soft' or 'pld' only")
        keep = majority_mask(split.votes) if strict_majority else np.ones(len(split), bool)
        self.target = target
        self.transform = transform
        self.images = to_input(split.images[keep])  # (N, 1, 48, 48), about 9 KB a face
        taught = vote_distribution(split.votes[keep]) if distribution is None else distribution
        self.distribution = torch.from_numpy(np.asarray(taught, np.float32))
        self.labels = torch.from_numpy(plurality_label(split.votes[keep]))
        self.dropped_by_majority_rule = int((~keep).sum())

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target == "soft":
            target = self.distribution[index]
        else:
            label = (
                self.labels[index]
                if self.target == "majority"
                else torch.multinomial(self.distribution[index], 1)[0]
            )
            target = torch.nn.functional.one_hot(label, NUM_CLASSES).float()
        return image, target
