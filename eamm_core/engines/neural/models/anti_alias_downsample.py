"""Gaussian anti-alias blur followed by subsampling (FOMM ``AntiAliasInterpolation2d``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AntiAliasDownsample(nn.Module):
    """Blur with a normalised 13×13 Gaussian (σ = 1.5 for ×0.25), keep every ``1/scale``-th pixel.

    Input [B,C,H,W] → output [B,C,H·scale,W·scale]. The kernel is a persistent buffer ``kernel``
    [C,1,k,k] (the authors' checkpoints store it as ``down.weight``), built exactly as the
    reference builds it in float32.
    """

    def __init__(self, channels: int, scale: float):
        super().__init__()
        self.scale = scale
        self.step = int(round(1 / scale))
        sigma = (1 / scale - 1) / 2
        size = 2 * round(sigma * 4) + 1
        self.pad = size // 2
        g = torch.exp(-((torch.arange(size, dtype=torch.float32) - (size - 1) / 2) ** 2) / (2 * sigma**2))
        k = g[:, None] * g[None, :]
        k = k / torch.sum(k)
        self.register_buffer("kernel", k.view(1, 1, size, size).repeat(channels, 1, 1, 1))
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.pad, self.pad, self.pad, self.pad))
        out = F.conv2d(out, self.kernel.to(out.dtype), groups=self.channels)
        return out[:, :, :: self.step, :: self.step]
