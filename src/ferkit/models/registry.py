"""Models by name: ``create_model("resnet_swish_s")``."""

from __future__ import annotations

from collections.abc import Callable

from ferkit.models.resnet_swish import ResNetSwish, ResNetSwishConfig

_CONFIGS: dict[str, Callable[[], ResNetSwishConfig]] = {}


def register(fn: Callable[[], ResNetSwishConfig]) -> Callable[[], ResNetSwishConfig]:
    _CONFIGS[fn.__name__] = fn
    return fn


@register
def resnet_swish_xs() -> ResNetSwishConfig:
    """Tiny: for tests and smoke runs."""
    return ResNetSwishConfig(stem_width=8, widths=(16, 32, 64), depths=(1, 1, 1), first_stride=2, head_width=64)


@register
def resnet_swish_s() -> ResNetSwishConfig:
    """The CPU recipe's size, and the shipped default's teachers: 50 epochs from scratch train on 2 CPU cores
    in about 45 minutes (``configs/default.yaml``, 67.09% on FER2013 PrivateTest, mean of three seeds); 120 epochs
    with the residual branches at full scale give 69.66% (``teachers/``)."""
    return ResNetSwishConfig(stem_width=16, widths=(32, 64, 128), depths=(1, 1, 1), first_stride=2, head_width=128)


@register
def resnet_swish_s_fast() -> ResNetSwishConfig:
    """s with narrower early stages (16, 48 channels), same last stage: 1.3-1.4x s's ONNX throughput on 2 cores.

    Distilled from the shipped s model for 50 epochs (``configs/s_fast_distilled.yaml``) it gave 65.28% on
    FER2013 PrivateTest against the 50-epoch s's 65.84%; 80 epochs from scratch on a GPU gave 65.76%
    (docs/ACCURACY.md).
    """
    return ResNetSwishConfig(stem_width=16, widths=(16, 48, 128), depths=(1, 1, 1), first_stride=2, head_width=128)


@register
def resnet_swish_m() -> ResNetSwishConfig:
    """About 4x the compute of s: for several CPU hours or a GPU."""
    return ResNetSwishConfig(stem_width=32, widths=(64, 128, 256), depths=(1, 1, 1), first_stride=2, head_width=256)


@register
def resnet_swish_l() -> ResNetSwishConfig:
    """For a GPU: ResNet-18-like depth at full 48x48 resolution in the first stage.

    60 epochs on an H200 (bf16, under 5 minutes): 69.71% and 70.19% on FER2013 PrivateTest (two seeds),
    72.14% for four seeds of 60 and 80 epochs averaged (docs/ACCURACY.md).
    """
    return ResNetSwishConfig(stem_width=64, widths=(64, 128, 256, 512), depths=(2, 2, 2, 2), first_stride=1,
                             dropout2d=0.15, head_width=512, head_dropout=0.5)


def list_models() -> list[str]:
    return sorted(_CONFIGS)


def model_config(name: str) -> ResNetSwishConfig:
    if name not in _CONFIGS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _CONFIGS[name]()


def create_model(name: str, config: ResNetSwishConfig | None = None) -> ResNetSwish:
    """Build a registered model; ``config`` overrides the named defaults (a checkpoint's own config)."""
    return ResNetSwish(config or model_config(name))
