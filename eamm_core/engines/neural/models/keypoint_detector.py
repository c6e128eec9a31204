"""E_k, the keypoint detector (FOMM ``KPDetector``; checkpoint entry ``kp_detector``)."""

from __future__ import annotations

import torch
from torch import nn

from eamm_core.engines.neural.config import KeypointConfig
from eamm_core.engines.neural.models.anti_alias_downsample import AntiAliasDownsample
from eamm_core.engines.neural.models.hourglass import Hourglass
from eamm_core.engines.neural.models.keypoint_heads import KeypointHeads, KeypointTensors


class KeypointDetector(nn.Module):
    """E_k: image [B,3,256,256] in [0,1] RGB → ``KeypointTensors`` (value [B,10,2], jacobian
    [B,10,2,2], heatmap [B,10,58,58]). Internally: ×0.25 anti-aliased image [B,3,64,64] → hourglass
    [B,35,64,64] → :class:`KeypointHeads`."""

    def __init__(self, cfg: KeypointConfig):
        super().__init__()
        self.downsample = AntiAliasDownsample(cfg.num_channels, cfg.scale_factor)
        self.hourglass = Hourglass(cfg.block_expansion, cfg.num_channels, cfg.num_blocks, cfg.max_features)
        self.heads = KeypointHeads(self.hourglass.out_features, cfg.num_kp, cfg.temperature)

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """The hourglass feature map [B,35,64,64]."""
        return self.hourglass(self.downsample(image))

    def forward(self, image: torch.Tensor) -> KeypointTensors:
        return self.heads(self.features(image))
