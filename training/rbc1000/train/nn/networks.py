"""The classifiers the pipeline trains: a compact CNN for 63 x 63 stamps, with (the default,
"compact-coord") or without ("compact") a distance-from-centre input channel, and the paper's
ResNet-18 ("resnet18-224").

All map float32 triplets `[N, 3, 63, 63]` to two logits `[N, 2]` (index 1 = real), so the
trainer, the exporter and the metrics never need to know which one they hold.
"""

from __future__ import annotations

from typing import get_args

import torch
import torch.nn.functional as F
from torch import nn

from rbc1000.train.method.config import ModelName

MODEL_NAMES: tuple[str, ...] = get_args(ModelName)


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class CompactNet(nn.Module):
    """A small CNN sized for 63 x 63 stamps: 63 -> 31 -> 15 -> 7, then average and max pooling.

    Only one convolution runs at full resolution because that is where most of the compute
    goes, which keeps a forward pass near 30 MMAC (ResNet-18 at 224 px needs 1.8 GMAC).
    Max pooling next to average pooling keeps a strong compact source (a real point source or
    a cosmic ray) from being diluted by the 7 x 7 background around it.

    With `coord`, a fixed fourth channel (distance from the stamp centre, where the alert's
    source always sits) is appended to the input. Global pooling alone makes "is it at the
    centre?" hard to learn; with 540 training labels the plain network sometimes spends its
    first hundred steps predicting the class prior and ends far worse; the coordinate channel
    makes those runs rarer and milder (bench/train.py comparison over paired seeds).
    """

    radius: torch.Tensor

    def __init__(self, width: int = 16, coord: bool = False) -> None:
        super().__init__()
        self.coord = coord
        if coord:
            yy, xx = torch.meshgrid(torch.arange(63.0), torch.arange(63.0), indexing="ij")
            radius = ((yy - 31) ** 2 + (xx - 31) ** 2).sqrt() / 31
            self.register_buffer("radius", radius[None, None], persistent=False)
        self.features = nn.Sequential(
            *_conv_bn(4 if coord else 3, width),
            nn.MaxPool2d(2),
            *_conv_bn(width, 2 * width),
            *_conv_bn(2 * width, 2 * width),
            nn.MaxPool2d(2),
            *_conv_bn(2 * width, 4 * width),
            *_conv_bn(4 * width, 4 * width),
            nn.MaxPool2d(2),
            *_conv_bn(4 * width, 4 * width),
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(8 * width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.coord:
            x = torch.cat([x, self.radius.expand(x.shape[0], 1, 63, 63)], dim=1)
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        logits: torch.Tensor = self.head(self.dropout(pooled))
        return logits


class Upsampled(nn.Module):
    """Bilinear upsampling to `size` before `net` (align_corners=True, as the reference does)."""

    def __init__(self, net: nn.Module, size: int = 224) -> None:
        super().__init__()
        self.net = net
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=True)
        logits: torch.Tensor = self.net(x)
        return logits


def build_model(name: str) -> nn.Module:
    """A freshly initialised model by name: "compact", "compact-coord" or "resnet18-224"."""
    if name == "compact":
        return CompactNet()
    if name == "compact-coord":
        return CompactNet(coord=True)
    if name == "resnet18-224":
        from torchvision.models import resnet18

        return Upsampled(resnet18(weights=None, num_classes=2), 224)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
