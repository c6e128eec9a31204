"""Network sizes of the neural engine as typed, frozen dataclasses.

:func:`released` gives the sizes of the authors' checkpoints (the shapes in their
weights; FOMM ``vox-256.yaml``); :func:`tiny` gives a structurally identical but small network for fast tests.
The config is stored in our checkpoint manifest and read back with :func:`config_from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class KeypointConfig:
    """E_k (FOMM ``KPDetector``): hourglass on the ×``scale_factor`` image, then the two heads."""

    num_kp: int = 10
    num_channels: int = 3
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    temperature: float = 0.1
    scale_factor: float = 0.25

    @property
    def feature_channels(self) -> int:
        return self.block_expansion + self.num_channels


@dataclass(frozen=True)
class DenseMotionConfig:
    """F (``DenseMotionNetwork``)."""

    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    kp_variance: float = 0.01


@dataclass(frozen=True)
class GeneratorConfig:
    """G (``OcclusionAwareGenerator``)."""

    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)


@dataclass(frozen=True)
class A2FDConfig:
    """Audio-to-facial-dynamics (``AT_net2``): E_I, E_a, E_p, LSTM D and the feature-map decoder.

    ``image_channels``: channels after each of the image encoder's down blocks (image 256 → 1 px).
    ``audio_channels``: the five conv blocks of E_a. ``decoder_channels``: the four hidden transposed
    convolutions (the last one outputs ``KeypointConfig.feature_channels`` channels at 64×64).
    """

    image_channels: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)
    audio_channels: tuple[int, int, int, int, int] = (64, 128, 256, 256, 512)
    audio_hidden: int = 2048
    audio_features: int = 256
    pose_hidden: int = 128
    pose_features: int = 256
    lstm_hidden: int = 256
    lstm_layers: int = 3
    decoder_channels: tuple[int, int, int, int] = (256, 128, 128, 128)
    audio_weight: float = 1.6
    mfcc_frames: int = 28
    mfcc_coefficients: int = 12
    pose_dims: int = 6


@dataclass(frozen=True)
class EmotionConfig:
    """E_e (hourglass + ResNet-18 trunk) and P_d (positional encoding, fc_p, fc_all, 1-D conv head)."""

    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    num_classes: int = 8
    resnet_channels: tuple[int, int, int, int] = (64, 128, 256, 512)
    pose_frequencies: int = 10
    kp_hidden: tuple[int, int] = (1024, 512)
    fuse_hidden: tuple[int, int, int] = (512, 256, 64)
    num_outputs: int = 4


@dataclass(frozen=True)
class EammConfig:
    """All five networks; ``image_size`` is the crop side the networks were trained on."""

    name: str = "released"
    image_size: int = 256
    keypoints: KeypointConfig = field(default_factory=KeypointConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    a2fd: A2FDConfig = field(default_factory=A2FDConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)

    def to_dict(self) -> dict:
        return asdict(self)


def released() -> EammConfig:
    """The sizes of the authors' released checkpoints."""
    return EammConfig()


def tiny() -> EammConfig:
    """Same structure, a few thousand times fewer FLOPs (tests only; 64×64 feature maps kept)."""
    return EammConfig(
        name="tiny",
        keypoints=KeypointConfig(block_expansion=4, max_features=16, num_blocks=3),
        generator=GeneratorConfig(
            block_expansion=4,
            max_features=16,
            num_bottleneck_blocks=2,
            dense_motion=DenseMotionConfig(block_expansion=4, max_features=16, num_blocks=3),
        ),
        a2fd=A2FDConfig(
            image_channels=(2, 2, 4, 4, 8, 8, 8, 8),
            audio_channels=(4, 4, 8, 8, 8),
            audio_hidden=32,
            audio_features=16,
            pose_hidden=8,
            pose_features=16,
            lstm_hidden=16,
            lstm_layers=2,
            decoder_channels=(8, 8, 8, 8),
        ),
        emotion=EmotionConfig(
            block_expansion=4,
            max_features=16,
            num_blocks=3,
            resnet_channels=(8, 8, 16, 16),
            pose_frequencies=4,
            kp_hidden=(32, 16),
            fuse_hidden=(32, 32, 64),
        ),
    )


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def config_from_dict(d: dict) -> EammConfig:
    """Inverse of :meth:`EammConfig.to_dict` (as read back from a manifest's JSON)."""
    gen = dict(d["generator"])
    gen["dense_motion"] = DenseMotionConfig(**gen["dense_motion"])
    return EammConfig(
        name=d.get("name", "custom"),
        image_size=int(d.get("image_size", 256)),
        keypoints=KeypointConfig(**_tuples(d["keypoints"])),
        generator=GeneratorConfig(**gen),
        a2fd=A2FDConfig(**_tuples(d["a2fd"])),
        emotion=EmotionConfig(**_tuples(d["emotion"])),
    )
