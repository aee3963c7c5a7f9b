"""The ResNet-Swish family: residual CNNs for 48x48 grey faces.

Every conv and dense layer is followed by BatchNorm; activations are SiLU (Swish);
conv stages regularise with ``Dropout2d`` (SpatialDropout2D); global average
pooling feeds a dense head with BN. The temperature used to calibrate the
probabilities is a buffer of the model, so it travels with the weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ferkit.labels import NUM_CLASSES


@dataclass(frozen=True)
class ResNetSwishConfig:
    """Architecture of one member of the family.

    Args:
        stem_width: channels of the 3x3 stem conv at full resolution.
        widths: channels of each stage; every stage after the first halves the resolution.
        depths: residual blocks per stage.
        first_stride: stride of the first stage (2 trades accuracy for speed at 48x48).
        dropout2d: channel dropout after each stage.
        head_width: units of the dense layer before the classifier.
        head_dropout: dropout before the classifier.
        num_classes: derived from ``ferkit.labels``; stored so checkpoints describe themselves.
        in_chans: 1 for grey faces.
    """

    stem_width: int = 32
    widths: tuple[int, ...] = (64, 128, 256)
    depths: tuple[int, ...] = (1, 1, 1)
    first_stride: int = 1
    dropout2d: float = 0.1
    head_width: int = 256
    head_dropout: float = 0.4
    num_classes: int = NUM_CLASSES
    in_chans: int = 1

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> ResNetSwishConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ResNetSwishConfig field(s): {', '.join(sorted(unknown))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def conv_bn(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with SiLU and an identity or 1x1 conv-BN shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, stride)
        self.conv2 = conv_bn(cout, cout)
        self.act = nn.SiLU(inplace=True)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, stride, kernel=1)
        # Each block starts as identity (its branch's last BN scale at 0); ``residual_scales_to_one`` undoes it.
        nn.init.zeros_(self.conv2[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.act(self.conv1(x))) + self.shortcut(x))


class ResNetSwish(nn.Module):
    def __init__(self, config: ResNetSwishConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.stem = nn.Sequential(conv_bn(c.in_chans, c.stem_width), nn.SiLU(inplace=True))
        stages = []
        cin = c.stem_width
        for i, (width, depth) in enumerate(zip(c.widths, c.depths, strict=True)):
            stride = c.first_stride if i == 0 else 2
            blocks = [BasicBlock(cin if j == 0 else width, width, stride if j == 0 else 1) for j in range(depth)]
            stages.append(nn.Sequential(*blocks, nn.Dropout2d(c.dropout2d)))
            cin = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(cin, c.head_width, bias=False),
            nn.BatchNorm1d(c.head_width),
            nn.SiLU(inplace=True),
            nn.Dropout(c.head_dropout),
            nn.Linear(c.head_width, c.num_classes),
        )
        # Calibration temperature: logits / T. Fitted after training; 1.0 means uncalibrated.
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw logits (B, num_classes) for faces (B, 1, 48, 48), normalised."""
        return self.head(self.pool(self.stages(self.stem(x))))

    def calibrated_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self(x) / self.temperature


def residual_scales_to_one(model: nn.Module) -> None:
    """Start every residual branch at full scale: its last BatchNorm's weight at 1 (PyTorch's default), not 0.

    The zero start makes each block an identity at first, which steadies deep ResNets. In this family's shallow
    members (one block per stage) every 3x3 conv after the stem sits in such a branch, so at the start the model
    is a stack of strided 1x1 convs, and the branches' convs get no gradient until their scales have grown:
    SGD (lr 0.05) stayed near the class prior's loss for 300 steps, and AdamW needed twice the steps to reach
    a given training loss (``docs/ACCURACY.md``).
    """
    for block in model.modules():
        if isinstance(block, BasicBlock):
            nn.init.ones_(block.conv2[1].weight)
