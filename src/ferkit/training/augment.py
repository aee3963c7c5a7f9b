"""On-the-fly augmentation of whole batches on tensors: one affine warp per batch.

Flip, shift, rotation and zoom are folded into one 2x3 affine matrix per face and
applied with a single ``grid_sample`` call, so the cost is one bilinear resample of
(B, 1, 48, 48) whatever the number of transforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True
    shift: float = 0.1  # max translation, fraction of the side
    rotation: float = 10.0  # max degrees either way
    zoom: float = 0.1  # scale drawn from [1 - zoom, 1 + zoom]
    fill: str = "border"  # grid_sample padding: border (Keras "nearest"), reflection, zeros (constant)

    @classmethod
    def from_config(cls, config) -> AugmentConfig:
        """The augmentation fields of a ``TrainConfig`` (same names)."""
        return cls(**{name: getattr(config, name) for name in cls.__dataclass_fields__})


def random_affine(n: int, config: AugmentConfig, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, 2, 3) matrices mapping output to input coordinates in [-1, 1]."""

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator, device=device)

    angle = uniform(-config.rotation, config.rotation) * (math.pi / 180)
    scale = uniform(1 - config.zoom, 1 + config.zoom)
    tx = uniform(-config.shift, config.shift) * 2  # [-1, 1] spans the side: shift fraction * 2
    ty = uniform(-config.shift, config.shift) * 2
    flip = torch.ones(n, device=device)
    if config.flip:
        flip = torch.where(torch.rand(n, generator=generator, device=device) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, tx], dim=1),
        torch.stack([sin * flip, cos, ty], dim=1),
    ], dim=1)
    return theta


def augment(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Randomly flip, shift, rotate and zoom each face of a batch (B, C, H, W)."""
    theta = random_affine(x.shape[0], config, generator, x.device).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=config.fill, align_corners=False)
