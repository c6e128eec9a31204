"""P_d, the emotion displacement predictor: the keypoint half of the reference ``Emotion_k``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from eamm_core.engines.neural.config import EmotionConfig
from eamm_core.engines.neural.models.positional_encoding import PositionalEncoding


@dataclass(frozen=True)
class Displacements:
    """value [B,4,2], jacobian [B,4,2,2]; intermediates: posenc [B,K·126], kp_feature [B,512],
    fused [B,64]."""

    value: torch.Tensor
    jacobian: torch.Tensor
    posenc: torch.Tensor
    kp_feature: torch.Tensor
    fused: torch.Tensor


class DisplacementPredictor(nn.Module):
    """P_d: (E_e feature [B,512], audio keypoints value [B,10,2] / jacobian [B,10,2,2]) → 4 keypoint
    displacements.

    γ(cat(value, jacobian)) per keypoint → [B,1260] → fc_p (1024, 512, ReLU) → cat with the image
    feature [B,1024] → fc_all (512, 256, 64, ReLU) → [B,1,64] → Conv1d(1→2,k4,s2,p1) → MaxPool1d(2)
    → ReLU → Conv1d(2→4,k4,s2,p1) → ReLU → Conv1d(4→4,k3) → [B,4,6] = value(2) | jacobian(4).
    """

    def __init__(self, cfg: EmotionConfig, num_kp: int = 10):
        super().__init__()
        self.encoding = PositionalEncoding(cfg.pose_frequencies)
        kp_in = num_kp * self.encoding.out_features(6)
        self.kp_fc1 = nn.Linear(kp_in, cfg.kp_hidden[0])
        self.kp_fc2 = nn.Linear(cfg.kp_hidden[0], cfg.kp_hidden[1])
        image = cfg.resnet_channels[-1]
        sizes = (image + cfg.kp_hidden[1],) + tuple(cfg.fuse_hidden)
        self.fuse = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))
        self.head1 = nn.Conv1d(1, 2, kernel_size=4, stride=2, padding=1)
        self.head2 = nn.Conv1d(2, cfg.num_outputs, kernel_size=4, stride=2, padding=1)
        self.head3 = nn.Conv1d(cfg.num_outputs, cfg.num_outputs, kernel_size=3)

    def forward(self, feature: torch.Tensor, value: torch.Tensor, jacobian: torch.Tensor) -> Displacements:
        b, k = value.shape[:2]
        x = torch.cat([value, jacobian.reshape(b, k, 4)], dim=2)
        posenc = self.encoding(x).reshape(b, -1)
        kp_feature = F.relu(self.kp_fc2(F.relu(self.kp_fc1(posenc))))
        fused = torch.cat([feature, kp_feature], dim=1)
        for layer in self.fuse:
            fused = F.relu(layer(fused))
        out = F.relu(F.max_pool1d(self.head1(fused.unsqueeze(1)), 2))
        out = self.head3(F.relu(self.head2(out)))
        n = out.shape[1]
        return Displacements(out[:, :, :2], out[:, :, 2:].reshape(b, n, 2, 2), posenc, kp_feature, fused)
