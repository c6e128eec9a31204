"""The keypoint and jacobian heads of E_k (also the whole of the reference's ``KPDetector_a``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from eamm_core.engines.neural.models.geometry import coordinate_grid


@dataclass(frozen=True)
class KeypointTensors:
    """value [B,K,2] (x, y in [−1,1]); jacobian [B,K,2,2] row-major; heatmap [B,K,h,w] or None."""

    value: torch.Tensor
    jacobian: torch.Tensor
    heatmap: torch.Tensor | None = None


class KeypointHeads(nn.Module):
    """Feature map [B,F,64,64] → keypoints.

    ``value_conv`` (F→K, 7×7, no padding) gives [B,K,58,58] logits → softmax(logits/T) over the 58·58
    positions = heatmap; value = Σ heatmap·grid. ``jacobian_conv`` (F→4K, 7×7) gives per-position 2×2
    maps, averaged with the heatmap → [B,K,2,2].
    """

    def __init__(self, in_features: int, num_kp: int, temperature: float):
        super().__init__()
        self.value_conv = nn.Conv2d(in_features, num_kp, kernel_size=7, padding=0)
        self.jacobian_conv = nn.Conv2d(in_features, 4 * num_kp, kernel_size=7, padding=0)
        self.num_kp = num_kp
        self.temperature = temperature

    def forward(self, feature_map: torch.Tensor) -> KeypointTensors:
        logits = self.value_conv(feature_map)
        b, k, h, w = logits.shape
        heatmap = F.softmax(logits.view(b, k, -1) / self.temperature, dim=2).view(b, k, h, w)
        grid = coordinate_grid(h, w, dtype=heatmap.dtype, device=heatmap.device)
        value = (heatmap.unsqueeze(-1) * grid.view(1, 1, h, w, 2)).sum(dim=(2, 3))
        jac_map = self.jacobian_conv(feature_map).view(b, k, 4, h, w)
        jacobian = (heatmap.unsqueeze(2) * jac_map).view(b, k, 4, -1).sum(-1).view(b, k, 2, 2)
        return KeypointTensors(value, jacobian, heatmap)
