"""E_p, the A2FD pose encoder (reference ``AT_net2.pose_encoder``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PoseEncoder(nn.Module):
    """E_p: raw 3DDFA pose [N,6] (yaw, pitch, roll in degrees, s, tx, ty; no normalisation) →
    Linear 128 + ReLU → Linear 256 + ReLU → [N,256]."""

    def __init__(self, pose_dims: int, hidden: int, features: int):
        super().__init__()
        self.fc1 = nn.Linear(pose_dims, hidden)
        self.fc2 = nn.Linear(hidden, features)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc2(F.relu(self.fc1(pose))))
