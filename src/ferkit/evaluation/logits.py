"""Batched logits of a model over uint8 faces: the one inference loop of training and evaluation."""

from __future__ import annotations

import numpy as np
import torch

from ferkit.data.preprocess import to_input


@torch.inference_mode()
def face_logits(model: torch.nn.Module, faces: np.ndarray, normalization: dict[str, float], tta: bool = False,
                batch_size: int = 1024) -> torch.Tensor:
    """Raw (uncalibrated) logits (N, C) for faces (N, 48, 48) uint8.

    Args:
        tta: average the logits of each face and its mirror image.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(faces), batch_size):
        x = to_input(faces[start:start + batch_size], normalization).to(device)
        logits = model(x)
        if tta:
            logits = (logits + model(x.flip(-1))) / 2
        out.append(logits.float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)
