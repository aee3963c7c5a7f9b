import pytest
import torch

from ferkit.labels import NUM_CLASSES
from ferkit.models import ResNetSwishConfig, create_model, list_models, model_config

MODELS = list_models()


def test_registry_has_small_and_large_sizes():
    assert {"resnet_swish_xs", "resnet_swish_s", "resnet_swish_l"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_forward_shape_and_backward(name):
    model = create_model(name)
    x = torch.randn(4, 1, 48, 48, requires_grad=True)
    logits = model(x)
    assert logits.shape == (4, NUM_CLASSES)
    logits.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", MODELS)
def test_param_counts_grow_with_size(name):
    n = sum(p.numel() for p in create_model(name).parameters())
    assert 10_000 < n < 20_000_000


def test_sizes_are_ordered():
    counts = [sum(p.numel() for p in create_model(f"resnet_swish_{s}").parameters()) for s in ("xs", "s", "m", "l")]
    assert counts == sorted(counts)


@pytest.mark.parametrize("name", MODELS)
def test_every_conv_and_dense_is_followed_by_batchnorm(name):
    model = create_model(name)
    modules = list(model.modules())
    layers = [m for m in modules if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    bns = [m for m in modules if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d))]
    # Every conv and the hidden dense layer has its BN; only the classifier layer has none.
    assert len(bns) == len(layers) - 1
    assert any(isinstance(m, torch.nn.Dropout2d) for m in modules)
    assert any(isinstance(m, torch.nn.SiLU) for m in modules)


def test_temperature_is_model_state():
    model = create_model("resnet_swish_xs").eval()
    assert "temperature" in model.state_dict()
    x = torch.randn(2, 1, 48, 48)
    model.temperature.fill_(2.0)
    torch.testing.assert_close(model.calibrated_logits(x), model(x) / 2)


def test_config_round_trip_and_unknown_field():
    config = model_config("resnet_swish_s")
    assert ResNetSwishConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="bogus"):
        ResNetSwishConfig.from_dict({**config.to_dict(), "bogus": 1})


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")


@pytest.mark.parametrize("name", MODELS)
def test_residual_branches_start_at_zero_scale_or_at_one(name):
    from ferkit.models import residual_scales_to_one
    from ferkit.models.resnet_swish import BasicBlock

    model = create_model(name)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert blocks and all(b.conv2[1].weight.abs().sum() == 0 for b in blocks)
    x = torch.randn(4, 1, 48, 48)
    # Zero scale: every branch's conv weights get no gradient at the start.
    model(x).sum().backward()
    assert all(b.conv1[0].weight.grad.abs().sum() == 0 for b in blocks)
    residual_scales_to_one(model)
    model.zero_grad()
    model(x).sum().backward()
    assert all(torch.equal(b.conv2[1].weight, torch.ones_like(b.conv2[1].weight)) for b in blocks)
    assert all(b.conv1[0].weight.grad.abs().sum() > 0 for b in blocks)
