"""Conv (no bias) → BatchNorm → ReLU, the audio encoder's unit (reference helper ``conv2d``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBnRelu(nn.Module):
    """[B,in,H,W] → [B,out,H,W] (3×3, stride 1, padding 1). Keys ``conv.weight``, ``norm.*``."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, 3, stride=1, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))
