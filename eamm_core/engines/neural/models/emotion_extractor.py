"""E_e, the emotion extractor: the image half of the reference ``Emotion_k``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from eamm_core.engines.neural.config import EmotionConfig
from eamm_core.engines.neural.models.anti_alias_downsample import AntiAliasDownsample
from eamm_core.engines.neural.models.basic_block import BasicBlock
from eamm_core.engines.neural.models.hourglass import Hourglass


@dataclass(frozen=True)
class EmotionFeature:
    """feature [B,512] (ResNet trunk, average pooled); logits [B,8] (the auxiliary emotion classifier)."""

    feature: torch.Tensor
    logits: torch.Tensor


class EmotionExtractor(nn.Module):
    """E_e: augmented emotion frame [B,3,256,256] RGB [0,1] → :class:`EmotionFeature`.

    ×0.25 anti-aliased frame → hourglass [B,35,64,64] → conv3×3 (no bias) 64 ch → BN → ReLU →
    MaxPool(3,2,1) [B,64,32,32] → four ResNet-18 stages (2 basic blocks each; 64, 128/2, 256/2, 512/2)
    [B,512,4,4] → global average → [B,512] → Linear → logits [B,8].
    """

    def __init__(self, cfg: EmotionConfig, num_channels: int = 3):
        super().__init__()
        self.downsample = AntiAliasDownsample(num_channels, cfg.scale_factor)
        self.hourglass = Hourglass(cfg.block_expansion, num_channels, cfg.num_blocks, cfg.max_features)
        c = cfg.resnet_channels
        self.conv1 = nn.Conv2d(self.hourglass.out_features, c[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        stages = []
        for i, width in enumerate(c):
            prev = c[0] if i == 0 else c[i - 1]
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(prev, width, stride), BasicBlock(width, width)))
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Linear(c[-1], cfg.num_classes)

    def hourglass_features(self, frame: torch.Tensor) -> torch.Tensor:
        """[B,35,64,64], in the weights' dtype (bf16/fp16 in the engine's fast path)."""
        return self.hourglass(self.downsample(frame).to(self.conv1.weight.dtype))

    def forward(self, frame: torch.Tensor) -> EmotionFeature:
        out = F.relu(self.bn1(self.conv1(self.hourglass_features(frame))))
        out = F.max_pool2d(out, kernel_size=3, stride=2, padding=1)
        for stage in self.stages:
            out = stage(out)
        feature = torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)
        return EmotionFeature(feature.float(), self.classifier(feature).float())
