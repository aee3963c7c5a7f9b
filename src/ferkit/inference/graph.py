"""The whole computation from uint8 faces to calibrated probabilities, as one torch module.

The torch backend runs it and the ONNX export traces it, so the two backends
share the scaling (``ferkit.data.preprocess.to_input``), the temperature and the
softmax by construction instead of by a second, numpy copy of them.
"""

from __future__ import annotations

import torch
from torch import nn

from ferkit.data.preprocess import to_input
from ferkit.training.checkpoint import Checkpoint


class FaceProbabilities(nn.Module):
    """(N, H, W) uint8 grey faces -> (N, num_classes) float32 probabilities, temperature applied.

    Args:
        checkpoint: supplies the model, its normalisation and its temperature.
    """

    def __init__(self, checkpoint: Checkpoint) -> None:
        super().__init__()
        self.model = checkpoint.build_model()
        self.normalization = dict(checkpoint.normalization)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model.calibrated_logits(to_input(faces, self.normalization)), dim=1)
