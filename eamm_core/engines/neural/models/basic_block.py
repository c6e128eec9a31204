"""ResNet-18 basic block, used by the emotion extractor E_e's trunk."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    """[B,in,H,W] → [B,out,H/s,W/s]: Conv3×3(s)→BN→ReLU→Conv3×3→BN, plus the (1×1 conv + BN when the
    shape changes) shortcut, then ReLU. Keys ``conv1``, ``bn1``, ``conv2``, ``bn2``,
    ``shortcut_conv``, ``shortcut_norm``."""

    def __init__(self, in_features: int, out_features: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, out_features, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_features)
        self.conv2 = nn.Conv2d(out_features, out_features, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_features)
        self.shortcut_conv: nn.Conv2d | None = None
        self.shortcut_norm: nn.BatchNorm2d | None = None
        if stride != 1 or in_features != out_features:
            self.shortcut_conv = nn.Conv2d(in_features, out_features, 1, stride=stride, bias=False)
            self.shortcut_norm = nn.BatchNorm2d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.shortcut_conv is None else self.shortcut_norm(self.shortcut_conv(x))
        return F.relu(out + skip)
