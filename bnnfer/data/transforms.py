"""Image transforms: training augmentation and the deterministic evaluation path.

Inputs everywhere are float tensors in [0, 1] shaped ``(1, 48, 48)`` per face (``(B, 1, 48, 48)``
batched); the network normalises internally, so a photo crop and a FER+ face need the same
preprocessing only. Augmentation uses ``torchvision.transforms.v2``: small shifts, rotations and
scales plus a horizontal flip, which keep a face a face of the same emotion. torchvision is
imported only when a transform is built: importing it imports ``torch._dynamo`` (about 1 s on
this project's CPU), which `to_input`, the one function inference needs, never uses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from torchvision.transforms import v2


@dataclass(frozen=True)
class AugmentConfig:
    """How much a training face may move; all zeros means no augmentation."""

    degrees: float = 10.0  # rotation range, +-degrees
    translate: float = 0.1  # shift range as a fraction of the side (0.1 -> up to 4.8 px)
    scale: float = 0.1  # zoom range: 1 +- scale
    flip: bool = True  # horizontal flip with probability 1/2

    def scaled(self, strength: float) -> AugmentConfig:
        """The same augmentation with the rotation, shift and zoom ranges times ``strength``
        (the flip unchanged)."""
        if strength < 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        return replace(
            self,
            degrees=self.degrees * strength,
            translate=self.translate * strength,
            scale=self.scale * strength,
        )


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 48, 48)`` or ``(48, 48)`` -> float32 ``(B, 1, 48, 48)`` in [0, 1].

    A float tensor already shaped ``(B, 1, 48, 48)`` is passed through (checked, not copied).
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if images.dtype == torch.uint8:
        if images.dim() == 2:
            images = images.unsqueeze(0)
        if images.dim() != 3:
            raise ValueError(f"uint8 images must be (B, H, W), got {tuple(images.shape)}")
        return images.unsqueeze(1).float().div_(255.0)
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"float images must be (B, 1, H, W), got {tuple(images.shape)}")
    return images.float()


def train_transform(config: AugmentConfig = AugmentConfig()) -> v2.Transform:
    """Random affine + flip for one float ``(1, 48, 48)`` face; identity when config is all off."""
    from torchvision.transforms import v2

    steps: list[v2.Transform] = []
    if config.degrees or config.translate or config.scale:
        steps.append(
            v2.RandomAffine(
                degrees=config.degrees,
                translate=(config.translate, config.translate),
                scale=(1 - config.scale, 1 + config.scale),
                interpolation=v2.InterpolationMode.BILINEAR,
            )
        )
    if config.flip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    return v2.Compose(steps) if steps else v2.Identity()


def eval_transform() -> v2.Transform:
    """Evaluation is deterministic: nothing moves."""
    from torchvision.transforms import v2

    return v2.Identity()
