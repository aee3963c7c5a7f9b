"""Turning uint8 faces into model input: the one place the scaling happens."""

from __future__ import annotations

import numpy as np
import torch


def to_input(faces: np.ndarray | torch.Tensor, normalization: dict[str, float]) -> torch.Tensor:
    """(N, 48, 48) uint8 faces -> (N, 1, 48, 48) float32, scaled to [0, 1] then normalised."""
    x = torch.as_tensor(faces)
    if x.dtype != torch.uint8:
        raise TypeError(f"faces must be uint8, got {x.dtype}")
    x = x.to(torch.float32).unsqueeze(1)
    return (x / 255.0 - normalization["mean"]) / normalization["std"]
