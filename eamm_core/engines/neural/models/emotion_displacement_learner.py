"""The implicit emotion displacement learner = E_e + P_d (reference ``Emotion_k``; entry ``emo_detector``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from eamm_core.engines.neural.config import EmotionConfig
from eamm_core.engines.neural.models.displacement_predictor import DisplacementPredictor, Displacements
from eamm_core.engines.neural.models.emotion_extractor import EmotionExtractor, EmotionFeature


@dataclass(frozen=True)
class EmotionOutput:
    """displacements (value [B,4,2], jacobian [B,4,2,2] + intermediates) and the extractor's output."""

    displacements: Displacements
    image: EmotionFeature


class EmotionDisplacementLearner(nn.Module):
    """(emotion frame [B,3,256,256], audio kp value [B,10,2], jacobian [B,10,2,2]) → 4 displacements
    Δ (the engine uses the first three, on keypoints 1 (×0.2), 4 and 6) and the emotion logits."""

    def __init__(self, cfg: EmotionConfig, num_kp: int = 10):
        super().__init__()
        self.extractor = EmotionExtractor(cfg)
        self.predictor = DisplacementPredictor(cfg, num_kp)

    def forward(self, frame: torch.Tensor, value: torch.Tensor, jacobian: torch.Tensor) -> EmotionOutput:
        image = self.extractor(frame)
        return EmotionOutput(self.predictor(image.feature, value, jacobian), image)
