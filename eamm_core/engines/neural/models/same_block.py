"""Conv → BatchNorm → ReLU at constant resolution (FOMM ``SameBlock2d``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SameBlock(nn.Module):
    """[B,in,H,W] → [B,out,H,W]. Keys ``conv.*``, ``norm.*``."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(out_features, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.norm(self.conv(x)))
