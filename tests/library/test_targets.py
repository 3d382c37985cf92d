"""bnnfer.data.targets and bnnfer.data.transforms: the three training targets, label smoothing and
mixup, the augmentation, and torchvision kept out of the inference path's imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from bnnfer.data.split import FerPlusSplit
from bnnfer.data.targets import FerPlusTargets, majority_mask, mix_batch, smooth_targets
from bnnfer.data.transforms import AugmentConfig, eval_transform, to_input, train_transform


def _split() -> FerPlusSplit:
    votes = np.zeros((3, 10), dtype=np.int64)
    votes[0, [0, 1]] = [6, 4]  # majority neutral (60%)
    votes[1, [2, 3]] = [5, 5]  # tie: no strict majority
    votes[2, [1, 6, 8]] = [3, 1, 6]  # 3 happiness, 1 fear (unknown votes ignored)
    images = np.arange(3 * 48 * 48, dtype=np.int64).reshape(3, 48, 48).astype(np.uint8)
    return FerPlusSplit("train", images, votes, np.array(["a.png", "b.png", "c.png"]))


def test_soft_target_is_the_renormalised_vote_distribution():
    dataset = FerPlusTargets(_split(), "soft")
    image, target = dataset[2]
    assert image.shape == (1, 48, 48) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1
    torch.testing.assert_close(target, torch.tensor([0, 0.75, 0, 0, 0, 0, 0.25, 0]))


def test_majority_target_is_one_hot_plurality_and_strict_rule_drops_split_faces():
    dataset = FerPlusTargets(_split(), "majority")
    assert [int(dataset[i][1].argmax()) for i in range(3)] == [0, 2, 1]
    assert all(dataset[i][1].sum() == 1 and dataset[i][1].max() == 1 for i in range(3))
    np.testing.assert_array_equal(majority_mask(_split().votes), [True, False, True])
    strict = FerPlusTargets(_split(), "majority", strict_majority=True)
    assert len(strict) == 2 and strict.dropped_by_majority_rule == 1


def test_pld_target_draws_labels_with_the_vote_frequencies():
    dataset = FerPlusTargets(_split(), "pld")
    torch.manual_seed(0)
    draws = torch.stack([dataset[2][1] for _ in range(4000)])
    assert torch.all(draws.sum(1) == 1)
    frequencies = draws.mean(0)
    assert abs(frequencies[1].item() - 0.75) < 0.03
    assert abs(frequencies[6].item() - 0.25) < 0.03
    assert frequencies.sum().item() == pytest.approx(1.0)


def test_bad_target_arguments_are_refused():
    with pytest.raises(ValueError, match="target must be one of"):
        FerPlusTargets(_split(), "hard")
    with pytest.raises(ValueError, match="strict_majority applies to target='majority'"):
        FerPlusTargets(_split(), "soft", strict_majority=True)


def test_label_smoothing_by_hand():
    """e = 0.2 over 4 classes: a one-hot row becomes 0.85 / 0.05; a soft row (1 - e) t + 0.05."""
    targets = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    smoothed = smooth_targets(targets, 0.2)
    expected = torch.tensor([[0.85, 0.05, 0.05, 0.05], [0.45, 0.45, 0.05, 0.05]])
    torch.testing.assert_close(smoothed, expected)
    assert torch.equal(smooth_targets(targets, 0.0), targets)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="epsilon must be in"):
            smooth_targets(targets, bad)


def test_mixup_mixes_each_face_and_its_target_by_one_weight():
    """Face i is the constant i and its target the one-hot e_i, so a mixed face's value and
    target name both faces and the weight: face i mixed with face j = perm[i] is
    ``l i + (1 - l) j`` and its target ``l e_i + (1 - l) e_j``, with one l for the batch and a
    permutation for j. The same global seed gives the same batch."""
    n = 6
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 4, 4)
    targets = torch.eye(n)
    torch.manual_seed(3)
    mixed, mixed_targets = mix_batch(images, targets, alpha=0.4)
    assert mixed.shape == images.shape and mixed_targets.shape == targets.shape
    torch.testing.assert_close(mixed_targets.sum(1), torch.ones(n))
    weights, partners = [], []
    for i in range(n):
        row = mixed_targets[i].clone()
        own = row[i].item()
        row[i] = 0
        j = int(row.argmax()) if row.max() > 0 else i
        weight = own if j != i else 1.0
        partners.append(j)
        if j != i:
            weights.append(weight)
        expected = weight * i + (1 - weight) * j
        torch.testing.assert_close(mixed[i], torch.full((1, 4, 4), expected))
    assert sorted(partners) == list(range(n))  # a permutation
    assert weights and max(weights) - min(weights) < 1e-6  # one weight for the batch
    torch.manual_seed(3)
    again, _ = mix_batch(images, targets, alpha=0.4)
    assert torch.equal(again, mixed)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        mix_batch(images, targets, 0.0)
    with pytest.raises(ValueError, match="6 images but 5 targets"):
        mix_batch(images, targets[:5], 0.4)


def test_to_input_shapes_and_scale():
    uint8 = np.full((2, 48, 48), 255, dtype=np.uint8)
    x = to_input(uint8)
    assert x.shape == (2, 1, 48, 48) and x.dtype == torch.float32 and x.max() == 1.0
    assert to_input(uint8[0]).shape == (1, 1, 48, 48)
    with pytest.raises(ValueError, match=r"float images must be \(B, 1, H, W\)"):
        to_input(torch.zeros(2, 3, 48, 48))


def test_augmentation_moves_faces_and_evaluation_does_not():
    face = to_input(_split().images)[0]
    torch.manual_seed(0)
    augmented = [train_transform()(face) for _ in range(8)]
    assert all(a.shape == face.shape for a in augmented)
    assert any(not torch.equal(a, face) for a in augmented)
    assert torch.equal(eval_transform()(face), face)
    off = AugmentConfig(degrees=0, translate=0, scale=0, flip=False)
    assert torch.equal(train_transform(off)(face), face)
    # strength scales the ranges, not the flip; strength 0 leaves only the flip
    assert AugmentConfig().scaled(2.0) == AugmentConfig(degrees=20.0, translate=0.2, scale=0.2)
    unmoved = AugmentConfig().scaled(0.0)
    assert (unmoved.degrees, unmoved.translate, unmoved.scale, unmoved.flip) == (0, 0, 0, True)
    flipped = [train_transform(unmoved)(face) for _ in range(8)]
    assert all(torch.equal(f, face) or torch.equal(f, face.flip(-1)) for f in flipped)
    with pytest.raises(ValueError, match="strength must be >= 0"):
        AugmentConfig().scaled(-1.0)


def test_importing_bnnfer_for_inference_leaves_torchvision_unimported():
    """torchvision imports torch._dynamo (about 1 s): only building a transform may import it,
    so the dashboard, the CLI and inference start without it."""
    modules = (
        "bnnfer, bnnfer.cli, bnnfer.inference.store, bnnfer.evaluation.reporting, "
        "bnnfer.evaluation.views, bnnfer.media.faces"
    )
    code = (
        f"import sys, {modules}\n"
        "from bnnfer.data.transforms import to_input\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torchvision'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
