"""U-Net style hourglass (FOMM ``Hourglass`` = Encoder + Decoder with skip concatenation)."""

from __future__ import annotations

import torch
from torch import nn

from eamm_core.engines.neural.models.down_block import DownBlock
from eamm_core.engines.neural.models.up_block import UpBlock


class Hourglass(nn.Module):
    """[B,in,H,W] → [B,block_expansion+in,H,W] (H divisible by 2**num_blocks).

    Encoder block i: min(max, be·2^(i+1)) channels at H/2^(i+1). Decoder (deepest first) upsamples and
    concatenates the matching encoder map; the last concatenation is with the input itself.
    """

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        def ch(i: int) -> int:
            return min(max_features, block_expansion * (2**i))

        self.encoder = nn.ModuleList(
            DownBlock(in_features if i == 0 else ch(i), ch(i + 1)) for i in range(num_blocks)
        )
        self.decoder = nn.ModuleList(
            UpBlock((1 if i == num_blocks - 1 else 2) * ch(i + 1), ch(i)) for i in reversed(range(num_blocks))
        )
        self.out_features = block_expansion + in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        for block in self.encoder:
            skips.append(block(skips[-1]))
        out = skips.pop()
        for block in self.decoder:
            out = torch.cat([block(out), skips.pop()], dim=1)
        return out
