"""Batched logits of a model over uint8 faces: the one inference loop of training and evaluation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ferkit.data.preprocess import to_input


def ten_crop_views(x: torch.Tensor, crop: int = 44) -> list[torch.Tensor]:
    """The ten views of ten-crop TTA: four corners and the centre, each mirrored too, resized back to
    the input's side (a zoom of 48/44 = 1.09, inside the training augmentation's range)."""
    side = x.shape[-1]
    starts = [(0, 0), (0, side - crop), (side - crop, 0), (side - crop, side - crop),
              ((side - crop) // 2, (side - crop) // 2)]
    views = []
    for top, left in starts:
        view = F.interpolate(x[..., top:top + crop, left:left + crop], size=x.shape[-2:], mode="bilinear",
                             align_corners=False)
        views += [view, view.flip(-1)]
    return views


@torch.inference_mode()
def face_logits(model: torch.nn.Module, faces: np.ndarray, normalization: dict[str, float],
                tta: bool | str = False, batch_size: int = 1024) -> torch.Tensor:
    """Raw (uncalibrated) logits (N, C) for faces (N, 48, 48) uint8.

    Args:
        tta: ``True`` or ``"flip"``: average the logits of each face and its mirror image;
            ``"tencrop"``: average over :func:`ten_crop_views`.
    """
    if tta not in (False, True, "none", "flip", "tencrop"):
        raise ValueError(f"tta must be none, flip or tencrop, got {tta!r}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(faces), batch_size):
        x = to_input(faces[start:start + batch_size], normalization).to(device)
        if tta == "tencrop":
            logits = torch.stack([model(view) for view in ten_crop_views(x)]).mean(0)
        else:
            logits = model(x)
            if tta in (True, "flip"):
                logits = (logits + model(x.flip(-1))) / 2
        out.append(logits.float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)
