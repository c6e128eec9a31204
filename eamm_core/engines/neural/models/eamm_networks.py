"""All networks the neural engine runs, as one module (what our checkpoint stores)."""

from __future__ import annotations

from torch import nn

from eamm_core.engines.neural.config import EammConfig
from eamm_core.engines.neural.models.audio_to_facial_dynamics import AudioToFacialDynamics
from eamm_core.engines.neural.models.emotion_displacement_learner import EmotionDisplacementLearner
from eamm_core.engines.neural.models.keypoint_detector import KeypointDetector
from eamm_core.engines.neural.models.keypoint_heads import KeypointHeads
from eamm_core.engines.neural.models.occlusion_aware_generator import OcclusionAwareGenerator


class EammNetworks(nn.Module):
    """Container: ``keypoint_detector`` (E_k), ``generator`` (G with F inside), ``a2fd`` (E_I, E_a, E_p,
    D, feature-map decoder), ``audio_heads`` (keypoint/jacobian heads on A2FD's maps; the reference's
    ``KPDetector_a``) and ``emotion`` (E_e + P_d). State-dict keys are ours; see ``keymap.py``."""

    def __init__(self, cfg: EammConfig):
        super().__init__()
        k = cfg.keypoints
        self.config = cfg
        self.keypoint_detector = KeypointDetector(k)
        self.generator = OcclusionAwareGenerator(cfg.generator, k.num_kp, k.num_channels)
        self.a2fd = AudioToFacialDynamics(cfg.a2fd, k.feature_channels)
        self.audio_heads = KeypointHeads(k.feature_channels, k.num_kp, k.temperature)
        self.emotion = EmotionDisplacementLearner(cfg.emotion, k.num_kp)
