import numpy as np
import pytest
import torch

from ferkit.evaluation.logits import face_logits, ten_crop_views
from ferkit.training.checkpoint import DEFAULT_NORMALIZATION


class Probe(torch.nn.Module):
    """Logits that expose the input: mean brightness of the left and right halves."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.stack([x[..., :24].mean((1, 2, 3)), x[..., 24:].mean((1, 2, 3))], 1) + self.w


def test_ten_crop_views_are_corners_and_centre_with_mirrors():
    x = torch.zeros(1, 1, 48, 48)
    x[..., :2, :2] = 1.0  # a bright top-left corner: only views holding that corner see it
    views = ten_crop_views(x)
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    lit = [float(v.sum()) > 0 for v in views]
    assert lit == [True, True, False, False, False, False, False, False, False, False]
    torch.testing.assert_close(views[1], views[0].flip(-1))


def test_tta_modes():
    faces = np.zeros((3, 48, 48), np.uint8)
    faces[:, :, :24] = 255  # bright left half
    plain = face_logits(Probe(), faces, DEFAULT_NORMALIZATION)
    flip = face_logits(Probe(), faces, DEFAULT_NORMALIZATION, tta="flip")
    ten = face_logits(Probe(), faces, DEFAULT_NORMALIZATION, tta="tencrop")
    assert plain[0, 0] > plain[0, 1]
    torch.testing.assert_close(flip[:, 0], flip[:, 1])  # mirror averaging makes the halves equal
    torch.testing.assert_close(ten[:, 0], ten[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(face_logits(Probe(), faces, DEFAULT_NORMALIZATION, tta=True), flip)
    with pytest.raises(ValueError, match="tta must be"):
        face_logits(Probe(), faces, DEFAULT_NORMALIZATION, tta="five")
