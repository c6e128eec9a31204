"""D, the A2FD temporal decoder: a 3-layer LSTM (reference ``AT_net2.lstm``)."""

from __future__ import annotations

import torch
from torch import nn


class LstmDecoder(nn.Module):
    """D: per-frame fused features [B,T,512+256+256] → [B,T,256], zero initial state, gate order
    (i, f, g, o) as ``nn.LSTM``. Keys ``lstm.weight_ih_l0`` … (same names as the reference)."""

    def __init__(self, in_features: int, hidden: int, layers: int):
        super().__init__()
        self.lstm = nn.LSTM(in_features, hidden, num_layers=layers, batch_first=True)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(fused)
        return out
