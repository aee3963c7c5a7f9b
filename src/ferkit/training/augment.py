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
    erasing: float = 0.0  # probability of erasing one random rectangle of a face (random erasing)

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
    """Randomly flip, shift, rotate and zoom each face of a batch (B, C, H, W), then erase where asked."""
    theta = random_affine(x.shape[0], config, generator, x.device).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode=config.fill, align_corners=False)
    if config.erasing > 0:
        x = random_erasing(x, config.erasing, generator=generator)
    return x


def _boxes(n: int, h: int, w: int, area: torch.Tensor, aspect: torch.Tensor, generator, device) -> tuple:
    """Per-face rectangles of a given area fraction and aspect ratio, placed uniformly: (top, left, bh, bw)."""
    bh = (area * h * w * aspect).sqrt().round().clamp(1, h)
    bw = (area * h * w / aspect).sqrt().round().clamp(1, w)
    top = (torch.rand(n, generator=generator, device=device) * (h - bh + 1)).floor()
    left = (torch.rand(n, generator=generator, device=device) * (w - bw + 1)).floor()
    return top, left, bh, bw


def _box_mask(top, left, bh, bw, h: int, w: int) -> torch.Tensor:
    """(n, 1, h, w) boolean mask, True inside each face's rectangle."""
    rows = torch.arange(h, device=top.device).view(1, h, 1)
    cols = torch.arange(w, device=top.device).view(1, 1, w)
    inside = ((rows >= top.view(-1, 1, 1)) & (rows < (top + bh).view(-1, 1, 1))
              & (cols >= left.view(-1, 1, 1)) & (cols < (left + bw).view(-1, 1, 1)))
    return inside.unsqueeze(1)


def random_erasing(x: torch.Tensor, prob: float, area: tuple[float, float] = (0.02, 0.25),
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020) on a batch: with probability ``prob`` a face gets one
    rectangle (2-25% of its area, aspect 0.3-3.3) filled with Gaussian noise in the input's scale."""
    n, _, h, w = x.shape
    dev = x.device
    frac = area[0] + (area[1] - area[0]) * torch.rand(n, generator=generator, device=dev)
    aspect = torch.exp(math.log(0.3) + (math.log(1 / 0.3) - math.log(0.3)) * torch.rand(n, generator=generator,
                                                                                          device=dev))
    mask = _box_mask(*_boxes(n, h, w, frac, aspect, generator, dev), h, w)
    mask &= (torch.rand(n, generator=generator, device=dev) < prob).view(n, 1, 1, 1)
    noise = torch.randn(x.shape, generator=generator, device=dev, dtype=x.dtype)
    return torch.where(mask, noise, x)


def mix_batch(x: torch.Tensor, target: torch.Tensor, mixup: float = 0.0, cutmix: float = 0.0,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) of a batch with a shuffled copy of itself.

    Args:
        x: inputs (B, C, H, W).
        target: class probabilities (B, K).
        mixup, cutmix: Beta(alpha, alpha) parameter of each; 0 turns it off. With both on, each batch
            uses one of the two at random.

    Returns the mixed inputs and targets, the targets mixed in the proportion of the pixels (CutMix)
    or of the blend (mixup).
    """
    modes = [m for m, a in (("mixup", mixup), ("cutmix", cutmix)) if a > 0]
    if not modes:
        return x, target
    mode = modes[int(torch.randint(len(modes), (1,), generator=generator))]
    alpha = mixup if mode == "mixup" else cutmix
    lam = float(torch.distributions.Beta(float(alpha), float(alpha)).sample())  # global RNG: seeded per run
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    if mode == "mixup":
        mixed = lam * x + (1 - lam) * x[perm]
    else:
        h, w = x.shape[-2:]
        area = torch.full((1,), 1 - lam, device=x.device)
        box = _boxes(1, h, w, area, torch.ones(1, device=x.device), generator, x.device)
        mask = _box_mask(*box, h, w)
        mixed = torch.where(mask, x[perm], x)
        lam = 1 - float(mask.float().mean())  # the share of pixels actually kept
    return mixed, lam * target + (1 - lam) * target[perm]

