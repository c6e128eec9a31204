"""The A2FD feature-map decoder (reference ``AT_net2.decon``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeatureMapDecoder(nn.Module):
    """LSTM output [N,256] → [N,35,64,64], a stand-in for E_k's hourglass feature map.

    ConvTranspose(k6, s2, p1) 1→4 px, then four ConvTranspose(k4, s2, p1) to 8, 16, 32, 64 px;
    BatchNorm + ReLU after all but the last (no final activation).
    """

    def __init__(self, in_features: int, channels: tuple[int, int, int, int], out_features: int):
        super().__init__()
        chans = (in_features,) + tuple(channels) + (out_features,)
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(chans[i], chans[i + 1], 6 if i == 0 else 4, stride=2, padding=1)
            for i in range(len(chans) - 1)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.reshape(x.shape[0], -1, 1, 1)
        for deconv, norm in zip(self.deconvs[:-1], self.norms):
            out = F.relu(norm(deconv(out)))
        return self.deconvs[-1](out)
