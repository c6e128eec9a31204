"""E_a, the A2FD audio encoder (reference ``AT_net2.audio_eocder`` + ``audio_eocder_fc``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from eamm_core.engines.neural.models.conv_bn_relu import ConvBnRelu


@dataclass(frozen=True)
class AudioEncoding:
    """conv: [N,512·12·2] flattened conv features; feature: [N,256] after the two FC layers (not yet
    multiplied by the audio weight)."""

    conv: torch.Tensor
    feature: torch.Tensor


class AudioEncoder(nn.Module):
    """E_a: MFCC windows [N,1,28,12] → :class:`AudioEncoding`.

    conv 1→64, 64→128, MaxPool(3, stride (1,2)) → [128,26,5], conv →256 →256 →512,
    MaxPool(3, stride 2) → [512,12,2] → flatten 12288 → Linear 2048 + ReLU → Linear 256 + ReLU.
    """

    def __init__(self, channels: tuple[int, int, int, int, int], hidden: int, features: int,
                 mfcc_frames: int = 28, mfcc_coefficients: int = 12):
        super().__init__()
        ins = (1,) + tuple(channels[:-1])
        self.convs = nn.ModuleList(ConvBnRelu(i, o) for i, o in zip(ins, channels))
        h = (mfcc_frames - 3 + 1 - 3) // 2 + 1
        w = ((mfcc_coefficients - 3) // 2 + 1 - 3) // 2 + 1
        self.fc1 = nn.Linear(channels[-1] * h * w, hidden)
        self.fc2 = nn.Linear(hidden, features)

    def forward(self, mfcc: torch.Tensor) -> AudioEncoding:
        out = self.convs[1](self.convs[0](mfcc))
        out = F.max_pool2d(out, kernel_size=3, stride=(1, 2))
        for conv in self.convs[2:]:
            out = conv(out)
        out = F.max_pool2d(out, kernel_size=3, stride=2).reshape(mfcc.shape[0], -1)
        feature = F.relu(self.fc2(F.relu(self.fc1(out))))
        return AudioEncoding(out, feature)
