"""NeRF-style positional encoding used by P_d on the audio keypoints (reference ``get_embedder``)."""

from __future__ import annotations

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    """γ(x) = [x, sin(2⁰x), cos(2⁰x), sin(2¹x), cos(2¹x), …, sin(2^(L−1)x), cos(2^(L−1)x)] on the last
    dim: [..., D] → [..., D·(1 + 2L)] (D = 6, L = 10 → 126)."""

    def __init__(self, num_frequencies: int):
        super().__init__()
        self.num_frequencies = num_frequencies

    def out_features(self, in_features: int) -> int:
        return in_features * (1 + 2 * self.num_frequencies)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        freqs = 2.0 ** torch.linspace(0.0, self.num_frequencies - 1, self.num_frequencies)
        parts = [x]
        for f in freqs.tolist():
            parts.append(torch.sin(x * f))
            parts.append(torch.cos(x * f))
        return torch.cat(parts, dim=-1)
