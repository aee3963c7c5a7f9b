import numpy as np
import pytest
import torch
from torch import nn

from ferkit.data.preprocess import to_input
from ferkit.evaluation.gradcam import grad_cam, last_conv_stage, overlay
from ferkit.training.checkpoint import load_checkpoint

IDENTITY = {"mean": 0.0, "std": 1.0}  # the model sees pixel / 255


def evidence_model() -> nn.Module:
    """conv 1x1 (identity) -> global mean -> [+1, -1]: class 0 is 'bright', class 1 is 'dark'."""
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[3].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model[3].bias.zero_()
    return model


def bright_square_face() -> np.ndarray:
    face = np.full((1, 48, 48), 10, np.uint8)
    face[0, 4:16, 30:44] = 250  # the evidence: top right
    return face


def test_map_points_at_the_evidence_for_the_class():
    model = evidence_model()
    cam = grad_cam(model, bright_square_face(), IDENTITY, classes=[0], layer=model[0])
    assert cam.shape == (1, 48, 48) and cam.dtype == np.float32
    assert cam.max() == pytest.approx(1.0)
    y, x = np.unravel_index(cam[0].argmax(), cam[0].shape)
    assert 4 <= y < 16 and 30 <= x < 44
    inside, outside = cam[0, 4:16, 30:44].mean(), cam[0, 30:, :20].mean()
    assert inside > 10 * outside
    # class 1 falls with brightness: no location supports it, the map is empty
    against = grad_cam(model, bright_square_face(), IDENTITY, classes=[1], layer=model[0])
    assert against.max() == 0.0


def test_default_class_is_the_prediction():
    model = evidence_model()
    face = bright_square_face()
    assert model(torch.as_tensor(face / 255, dtype=torch.float32)[:, None]).argmax().item() == 0
    np.testing.assert_array_equal(grad_cam(model, face, IDENTITY, layer=model[0]),
                                  grad_cam(model, face, IDENTITY, classes=[0], layer=model[0]))


def test_resnet_swish_maps_in_batches(checkpoint):
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model().train()  # the mode must survive
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    cams = grad_cam(model, faces, ckpt.normalization, batch_size=2)
    assert cams.shape == (5, 48, 48) and 0 <= cams.min() and cams.max() <= 1
    assert model.training
    assert (cams.reshape(5, -1).max(1) > 0).all()
    one_by_one = np.concatenate([grad_cam(model, faces[i:i + 1], ckpt.normalization) for i in range(5)])
    np.testing.assert_allclose(cams, one_by_one, atol=1e-5)
    assert last_conv_stage(model) is model.stages[-1]
    # another class than the predicted one gives another map
    with torch.no_grad():
        predicted = ckpt.build_model()(to_input(faces[:1], ckpt.normalization)).argmax().item()
    other = grad_cam(model, faces[:1], ckpt.normalization, classes=[(predicted + 1) % 7])
    assert not np.allclose(other, cams[:1])


def test_overlay_is_red_where_the_map_is_high():
    grey = np.full((48, 48), 128, np.uint8)
    cam = np.zeros((12, 12), np.float32)
    cam[:6, :6] = 1.0
    out = overlay(grey, cam)
    assert out.shape == (48, 48, 3) and out.dtype == np.uint8
    b, g, r = out[5, 5].astype(int)
    assert r > b + 40  # hot: red
    b, g, r = out[40, 40].astype(int)
    assert b > r + 40  # cold: blue
