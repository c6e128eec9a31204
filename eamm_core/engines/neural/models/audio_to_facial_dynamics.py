"""A2FD, the audio-to-facial-dynamics module (reference ``AT_net2``; checkpoint entry ``audio_feature``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from eamm_core.engines.neural.config import A2FDConfig
from eamm_core.engines.neural.models.audio_encoder import AudioEncoder
from eamm_core.engines.neural.models.feature_map_decoder import FeatureMapDecoder
from eamm_core.engines.neural.models.image_encoder import ImageEncoder
from eamm_core.engines.neural.models.lstm_decoder import LstmDecoder
from eamm_core.engines.neural.models.pose_encoder import PoseEncoder


@dataclass(frozen=True)
class A2FDSequence:
    """The per-frame state before the feature-map decoder: image_feature [B,512], audio_conv
    [B,T,12288], audio_feature [B,T,256] (unscaled), pose_feature [B,T,256], lstm_out [B,T,256]."""

    image_feature: torch.Tensor
    audio_conv: torch.Tensor
    audio_feature: torch.Tensor
    pose_feature: torch.Tensor
    lstm_out: torch.Tensor


class AudioToFacialDynamics(nn.Module):
    """A2FD: (portrait [B,3,256,256], MFCC windows [B,T,28,12], pose [B,T,6]) → feature maps
    [B,T,35,64,64] that :class:`KeypointHeads` turn into audio keypoints.

    E_I(portrait) once; per frame E_a(window)·audio_weight and E_p(pose); LSTM D over
    [image 512 | audio 256 | pose 256]; the feature-map decoder per frame.
    """

    def __init__(self, cfg: A2FDConfig, out_features: int):
        super().__init__()
        self.image_encoder = ImageEncoder(cfg.image_channels)
        self.audio_encoder = AudioEncoder(cfg.audio_channels, cfg.audio_hidden, cfg.audio_features,
                                          cfg.mfcc_frames, cfg.mfcc_coefficients)
        self.pose_encoder = PoseEncoder(cfg.pose_dims, cfg.pose_hidden, cfg.pose_features)
        fused = cfg.image_channels[-1] + cfg.audio_features + cfg.pose_features
        self.decoder = LstmDecoder(fused, cfg.lstm_hidden, cfg.lstm_layers)
        self.feature_decoder = FeatureMapDecoder(cfg.lstm_hidden, cfg.decoder_channels, out_features)
        self.audio_weight = cfg.audio_weight

    def sequence(self, image: torch.Tensor, mfcc: torch.Tensor, pose: torch.Tensor, chunk: int = 0) -> A2FDSequence:
        """Everything up to and including the LSTM; the per-frame encoders run ``chunk`` frames at a
        time (0 = all at once)."""
        b, t = mfcc.shape[:2]
        image_feature = self.image_encoder(image)
        step = chunk if chunk > 0 else t
        convs, audios, poses = [], [], []
        for start in range(0, t, step):
            m = mfcc[:, start:start + step]
            n = m.shape[1]
            audio = self.audio_encoder(m.reshape(b * n, 1, *m.shape[2:]))
            convs.append(audio.conv.view(b, n, -1))
            audios.append(audio.feature.view(b, n, -1))
            poses.append(self.pose_encoder(pose[:, start:start + step].reshape(b * n, -1)).view(b, n, -1))
        audio_conv, audio_feature, pose_feature = (torch.cat(x, dim=1) for x in (convs, audios, poses))
        fused = torch.cat(
            [image_feature.unsqueeze(1).expand(b, t, image_feature.shape[1]), audio_feature * self.audio_weight,
             pose_feature],
            dim=2,
        )
        lstm_out = self.decoder(fused)
        return A2FDSequence(image_feature, audio_conv, audio_feature, pose_feature, lstm_out)

    def decode(self, lstm_out: torch.Tensor) -> torch.Tensor:
        """lstm_out [B,T,256] → feature maps [B,T,35,64,64]."""
        b, t = lstm_out.shape[:2]
        maps = self.feature_decoder(lstm_out.reshape(b * t, -1))
        return maps.view(b, t, *maps.shape[1:])

    def forward(self, image: torch.Tensor, mfcc: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        return self.decode(self.sequence(image, mfcc, pose).lstm_out)
