"""Grad-CAM (Selvaraju et al. 2017): where in a face the model found the evidence for a class.

The map is the ReLU of the last conv stage's activations weighted by the
spatial mean of the class score's gradient, upsampled to the face and scaled to
[0, 1] per face.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferkit.data.preprocess import to_input


def last_conv_stage(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM reads: the last conv stage of a ResNet-Swish (6x6 for 48x48 faces with first stride 2)."""
    return model.stages[-1]


def grad_cam(model: nn.Module, faces: np.ndarray, normalization: dict[str, float],
             classes: np.ndarray | list[int] | None = None, layer: nn.Module | None = None,
             batch_size: int = 128) -> np.ndarray:
    """Grad-CAM maps of faces.

    Args:
        model: a classifier of (B, 1, H, W) normalised faces to (B, C) logits.
        faces: (N, H, W) uint8 grey faces.
        normalization: the checkpoint's ``mean``/``std``.
        classes: (N,) class explained for each face; None: the model's top-1 class.
        layer: the conv layer whose activations are weighted; None: ``last_conv_stage(model)``.
        batch_size: faces per forward/backward pass.

    Returns:
        (N, H, W) float32 maps in [0, 1]; all zero where no location supports the class.
    """
    layer = layer if layer is not None else last_conv_stage(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, args, output: captured.append(output))
    out = []
    try:
        for start in range(0, len(faces), batch_size):
            x = to_input(faces[start:start + batch_size], normalization).to(device)
            captured.clear()
            with torch.enable_grad():
                logits = model(x)
                activations = captured[-1]  # (B, K, h, w)
                if classes is None:
                    target = logits.argmax(1)
                else:
                    target = torch.as_tensor(np.asarray(classes)[start:start + len(x)], device=device).long()
                score = logits.gather(1, target[:, None]).sum()
                grads, = torch.autograd.grad(score, activations)
            weights = grads.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1): importance of each channel
            cam = F.relu((weights * activations).sum(dim=1, keepdim=True)).detach()  # (B, 1, h, w)
            cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            peak = cam.flatten(1).max(dim=1).values.clamp_min(1e-12)[:, None, None]
            out.append((cam / peak).clamp(0, 1).float().cpu())
    finally:
        handle.remove()
        model.train(was_training)
    size = tuple(faces.shape[1:3])
    return torch.cat(out).numpy() if out else np.zeros((0, *size), dtype=np.float32)


def overlay(grey: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A grey image with a Grad-CAM map blended over it as a heat map (red: most evidence).

    Args:
        grey: (H, W) uint8.
        cam: (h, w) float map in [0, 1]; resized to (H, W).
        alpha: weight of the heat map.

    Returns:
        (H, W, 3) BGR uint8.
    """
    import cv2

    if cam.shape != grey.shape:
        cam = cv2.resize(cam.astype(np.float32), (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.clip(cam * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    base = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(heat, alpha, base, 1 - alpha, 0)
