"""E_I, the A2FD image encoder (reference ``AT_net2.down_blocks``)."""

from __future__ import annotations

import torch
from torch import nn

from eamm_core.engines.neural.models.down_block import DownBlock


class ImageEncoder(nn.Module):
    """E_I: portrait [B,3,256,256] → [B,512]: eight down blocks 3→4→8→…→512 channels, 256 → 1 px,
    flattened."""

    def __init__(self, channels: tuple[int, ...], in_channels: int = 3):
        super().__init__()
        ins = (in_channels,) + tuple(channels[:-1])
        self.blocks = nn.ModuleList(DownBlock(i, o) for i, o in zip(ins, channels))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = image
        for block in self.blocks:
            out = block(out)
        return out.reshape(out.shape[0], -1)
