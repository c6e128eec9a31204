"""F, the dense motion network (FOMM ``DenseMotionNetwork``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from eamm_core.engines.neural.config import DenseMotionConfig
from eamm_core.engines.neural.models.anti_alias_downsample import AntiAliasDownsample
from eamm_core.engines.neural.models.geometry import coordinate_grid, keypoint_gaussians
from eamm_core.engines.neural.models.hourglass import Hourglass
from eamm_core.engines.neural.models.keypoint_heads import KeypointTensors


@dataclass(frozen=True)
class DenseMotion:
    """mask [B,K+1,h,w]; sparse_deformed [B,K+1,3,h,w]; deformation [B,h,w,2] (x,y sampling grid);
    occlusion_map [B,1,h,w]; h = w = 64 for 256 inputs."""

    mask: torch.Tensor
    sparse_deformed: torch.Tensor
    deformation: torch.Tensor
    occlusion_map: torch.Tensor


class DenseMotionNetwork(nn.Module):
    """F: (source [B,3,256,256], kp_driving, kp_source) → :class:`DenseMotion`.

    For each keypoint k the sparse motion T_k(z) = kp_s,k + J_s,k·J_d,k⁻¹·(z − kp_d,k), plus the
    identity (background); an hourglass on [heatmap difference | source warped by T_k] per k (K+1)·4
    channels predicts the softmax mask that blends the T_k into one dense field and the occlusion map.
    """

    def __init__(self, cfg: DenseMotionConfig, num_kp: int, num_channels: int = 3):
        super().__init__()
        in_features = (num_kp + 1) * (num_channels + 1)
        self.hourglass = Hourglass(cfg.block_expansion, in_features, cfg.num_blocks, cfg.max_features)
        self.mask_conv = nn.Conv2d(self.hourglass.out_features, num_kp + 1, kernel_size=7, padding=3)
        self.occlusion_conv = nn.Conv2d(self.hourglass.out_features, 1, kernel_size=7, padding=3)
        self.downsample = AntiAliasDownsample(num_channels, cfg.scale_factor)
        self.num_kp = num_kp
        self.kp_variance = cfg.kp_variance

    def sparse_motions(self, h: int, w: int, kp_d: KeypointTensors, kp_s: KeypointTensors) -> torch.Tensor:
        """[B,K+1,h,w,2]: identity grid, then T_k for each keypoint."""
        b, k = kp_d.value.shape[:2]
        grid = coordinate_grid(h, w, dtype=kp_d.value.dtype, device=kp_d.value.device).view(1, 1, h, w, 2)
        local = grid - kp_d.value.view(b, k, 1, 1, 2)
        jac = torch.matmul(kp_s.jacobian, torch.inverse(kp_d.jacobian.float()).to(kp_s.jacobian.dtype))
        local = torch.matmul(jac.view(b, k, 1, 1, 2, 2), local.unsqueeze(-1)).squeeze(-1)
        motions = local + kp_s.value.view(b, k, 1, 1, 2)
        return torch.cat([grid.expand(b, 1, h, w, 2), motions], dim=1)

    def forward(self, source: torch.Tensor, kp_driving: KeypointTensors, kp_source: KeypointTensors) -> DenseMotion:
        small = self.downsample(source)
        b, c, h, w = small.shape
        heat = keypoint_gaussians(kp_driving.value, h, w, self.kp_variance) - keypoint_gaussians(
            kp_source.value, h, w, self.kp_variance
        )
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1).unsqueeze(2)
        motions = self.sparse_motions(h, w, kp_driving, kp_source)
        k1 = motions.shape[1]
        repeated = small.unsqueeze(1).expand(b, k1, c, h, w).reshape(b * k1, c, h, w)
        warped = F.grid_sample(repeated, motions.reshape(b * k1, h, w, 2), align_corners=False).view(b, k1, c, h, w)
        x = torch.cat([heat, warped], dim=2).view(b, -1, h, w)
        # the learned part runs in the weights' dtype (bf16/fp16 in the engine's fast path); the motion
        # field itself (keypoints, sparse motions, blending) stays float32
        wdtype = self.mask_conv.weight.dtype
        features = self.hourglass(x.to(wdtype))
        mask = F.softmax(self.mask_conv(features).float(), dim=1)
        deformation = (motions.permute(0, 1, 4, 2, 3) * mask.unsqueeze(2)).sum(dim=1).permute(0, 2, 3, 1)
        occlusion = torch.sigmoid(self.occlusion_conv(features).float())
        return DenseMotion(mask, warped, deformation, occlusion)
