"""Tensor helpers shared by the keypoint and motion networks (functions, no modules)."""

from __future__ import annotations

import torch


def coordinate_grid(height: int, width: int, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """[H,W,2] grid, last dim (x, y), x = 2·j/(W−1) − 1 and y = 2·i/(H−1) − 1 (pixel centres)."""
    x = torch.arange(width, dtype=dtype, device=device)
    y = torch.arange(height, dtype=dtype, device=device)
    x = 2 * (x / (width - 1)) - 1
    y = 2 * (y / (height - 1)) - 1
    yy = y.view(-1, 1).repeat(1, width)
    xx = x.view(1, -1).repeat(height, 1)
    return torch.cat([xx.unsqueeze(2), yy.unsqueeze(2)], 2)


def keypoint_gaussians(value: torch.Tensor, height: int, width: int, variance: float) -> torch.Tensor:
    """value [B,K,2] → [B,K,H,W] = exp(−0.5·‖grid − value‖² / variance)."""
    grid = coordinate_grid(height, width, dtype=value.dtype, device=value.device)
    diff = grid.view(1, 1, height, width, 2) - value.view(*value.shape[:2], 1, 1, 2)
    return torch.exp(-0.5 * (diff**2).sum(-1) / variance)
