"""bnnfer.targets and bnnfer.transforms: the three training targets, the augmentation, and
torchvision kept out of the inference path's imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from bnnfer.data import FerPlusSplit
from bnnfer.targets import FerPlusTargets, majority_mask
from bnnfer.transforms import AugmentConfig, eval_transform, to_input, train_transform


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
    modules = "bnnfer, bnnfer.cli, bnnfer.store, bnnfer.evaluate, bnnfer.views, bnnfer.faces"
    code = (
        f"import sys, {modules}\n"
        "from bnnfer.transforms import to_input\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torchvision'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
