"""G, the occlusion-aware generator (FOMM ``OcclusionAwareGenerator``; checkpoint entry ``generator``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from eamm_core.engines.neural.config import GeneratorConfig
from eamm_core.engines.neural.models.dense_motion_network import DenseMotionNetwork
from eamm_core.engines.neural.models.down_block import DownBlock
from eamm_core.engines.neural.models.keypoint_heads import KeypointTensors
from eamm_core.engines.neural.models.res_block import ResBlock
from eamm_core.engines.neural.models.same_block import SameBlock
from eamm_core.engines.neural.models.up_block import UpBlock


@dataclass(frozen=True)
class GeneratorOutput:
    """prediction [B,3,256,256] in [0,1]; deformed [B,3,256,256] (source warped at full resolution,
    None when not asked for); mask, sparse_deformed, deformation, occlusion_map as in F."""

    prediction: torch.Tensor
    deformed: torch.Tensor | None
    mask: torch.Tensor
    sparse_deformed: torch.Tensor
    deformation: torch.Tensor
    occlusion_map: torch.Tensor


def warp(features: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Backward-warp [B,C,H,W] with a [B,h,w,2] grid (resized bilinearly to H×W when it differs)."""
    _, _, h, w = features.shape
    if deformation.shape[1:3] != (h, w):
        grid = deformation.permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)
        deformation = grid.permute(0, 2, 3, 1)
    if features.dtype != torch.float32:  # sample in float32: sampling positions need the precision
        return F.grid_sample(features.float(), deformation.float(), align_corners=False).to(features.dtype)
    return F.grid_sample(features, deformation, align_corners=False)


class OcclusionAwareGenerator(nn.Module):
    """G: (source [B,3,256,256], kp_driving, kp_source) → :class:`GeneratorOutput`.

    first (7×7, 64 ch, 256 px) → 2 down blocks → [B,256,64,64] source features, warped by F's dense
    field and multiplied by its occlusion map → 6 residual blocks → 2 up blocks → 7×7 conv → sigmoid.
    :meth:`encode` is the part that depends on the source only (computed once per portrait by the
    engine and passed back as ``source_features``).
    """

    def __init__(self, cfg: GeneratorConfig, num_kp: int = 10, num_channels: int = 3):
        super().__init__()
        be, mf = cfg.block_expansion, cfg.max_features
        self.first = SameBlock(num_channels, be, kernel_size=7, padding=3)
        self.encoder = nn.ModuleList(
            DownBlock(min(mf, be * 2**i), min(mf, be * 2 ** (i + 1))) for i in range(cfg.num_down_blocks)
        )
        self.dense_motion = DenseMotionNetwork(cfg.dense_motion, num_kp, num_channels)
        width = min(mf, be * 2**cfg.num_down_blocks)
        self.bottleneck = nn.Sequential(*(ResBlock(width) for _ in range(cfg.num_bottleneck_blocks)))
        self.decoder = nn.ModuleList(
            UpBlock(min(mf, be * 2 ** (cfg.num_down_blocks - i)), min(mf, be * 2 ** (cfg.num_down_blocks - i - 1)))
            for i in range(cfg.num_down_blocks)
        )
        self.final = nn.Conv2d(be, num_channels, kernel_size=7, padding=3)

    def encode(self, source: torch.Tensor) -> torch.Tensor:
        """Source-only features [B,256,64,64] (in the weights' dtype)."""
        out = self.first(source.to(self.final.weight.dtype))
        for block in self.encoder:
            out = block(out)
        return out

    def forward(
        self,
        source: torch.Tensor,
        kp_driving: KeypointTensors,
        kp_source: KeypointTensors,
        *,
        source_features: torch.Tensor | None = None,
        with_deformed: bool = True,
    ) -> GeneratorOutput:
        feats = self.encode(source) if source_features is None else source_features
        motion = self.dense_motion(source, kp_driving, kp_source)
        out = warp(feats, motion.deformation)
        occlusion = motion.occlusion_map
        if occlusion.shape[2:] != out.shape[2:]:
            occlusion = F.interpolate(occlusion, size=out.shape[2:], mode="bilinear", align_corners=False)
        out = self.bottleneck(out * occlusion.to(out.dtype))
        for block in self.decoder:
            out = block(out)
        prediction = torch.sigmoid(self.final(out).float())
        deformed = warp(source, motion.deformation) if with_deformed else None
        return GeneratorOutput(
            prediction, deformed, motion.mask, motion.sparse_deformed, motion.deformation, motion.occlusion_map
        )
