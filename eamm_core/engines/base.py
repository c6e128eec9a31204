"""The interface both engines implement (docs/architecture.md, "The engine seam").

Stage contract, all arrays numpy (see :mod:`eamm_core.types` for shapes and coordinate conventions):

1. ``source_keypoints(crop)``                 -> ``Keypoints`` [1,N,2] / [1,N,2,2]   (kp_s = E_k(crop))
2. ``audio_keypoints(crop, audio, pose)``     -> ``Keypoints`` [T,N,2]               (kp_a[t] = A2FD(...));
   afterwards ``motion_warnings`` holds what the artist should know about that motion (default: none)
3. ``emotion_result(emotion, kp_a, crop, neutral)`` -> :class:`EmotionResult`: Δ[t] ``[T,3,2]`` on the
   three face-related keypoints ``face_keypoints``, already multiplied by ``face_weights``, and which
   neutral reference it was measured against (``neutral``: the artist's neutral clip, or None)
4. the pipeline combines ``kp_d[t] = kp_a[t] + α[t]·Δ[t]`` on ``face_keypoints`` (:func:`combine`)
5. ``render(crop, kp_s, kp_d, indices)``      -> iterator of (frame index, uint8 [256,256,3] RGB);
   optionally ``render_setup(crop)`` / ``use_render_setup(crop, setup)``: per-portrait render data
   the pipeline caches and hands back on a later job (defaults: nothing to cache)

``emotion`` is an :class:`~eamm_core.types.EmotionClip` or an :class:`~eamm_core.types.EmotionPreset`.
Engines are deterministic for a given ``EngineOptions.seed``. This module is everything the pipeline
uses of an engine: a new engine subclasses :class:`Engine` and registers its module in ``_MODULES``.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from eamm_core.errors import EammError
from eamm_core.types import AudioFeatures, EmotionClip, EmotionPreset, Keypoints, PortraitCrop, PoseTrack

ENGINE_NAMES = ("landmark", "neural")


@dataclass(frozen=True)
class EngineOptions:
    """Options every engine accepts (engines ignore what does not apply to them)."""

    seed: int = 0
    blink: bool = True
    idle_motion: bool = False
    transcript: str | None = None
    model_dir: Path | None = None
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    precision: str = "fp32"  # "fp32" | "bf16" | "fp16"
    size: str = "auto"  # frame size: "auto" | "256" | "512" | "1024" | "2048" (eamm_core.render.frame_size)
    batch_size: int = 8
    smooth: bool = True
    relative: bool = False


@dataclass(frozen=True)
class EmotionResult:
    """An engine's emotion stage: the displacements and, if the engine measures the emotion against
    a neutral reference, a one-line description of which (recorded as the manifest's ``emotion_reference``)."""

    displacements: Keypoints  # Δ[t] [T,3,2] on ``Engine.face_keypoints``, weights applied
    reference: str | None = None


class Engine(abc.ABC):
    """One way of turning prepared inputs into frames."""

    name: ClassVar[str]
    #: indices of the three face-related keypoints the emotion displacements act on
    face_keypoints: ClassVar[tuple[int, int, int]]
    #: per-displacement weights applied by the engine itself (the reference uses 0.2, 1, 1)
    face_weights: ClassVar[tuple[float, float, float]] = (1.0, 1.0, 1.0)
    #: the one frame size the engine renders at (frames are enlarged to a larger ``options.size``),
    #: or None for an engine that renders at any size
    native_size: ClassVar[int | None] = None
    #: what the artist should know about the last ``audio_keypoints`` result (e.g. a transcript
    #: that was not used); engines that have such warnings set it there
    motion_warnings: tuple[str, ...] = ()

    def __init__(self, options: EngineOptions | None = None):
        self.options = options or EngineOptions()

    def describe(self) -> dict:
        """Name, version and model information recorded in the manifest."""
        return {"engine": self.name}

    @abc.abstractmethod
    def source_keypoints(self, crop: PortraitCrop) -> Keypoints: ...

    @abc.abstractmethod
    def audio_keypoints(self, crop: PortraitCrop, audio: AudioFeatures, pose: PoseTrack) -> Keypoints: ...

    @abc.abstractmethod
    def emotion_result(
        self, emotion: EmotionClip | EmotionPreset, kp_audio: Keypoints, crop: PortraitCrop,
        neutral: EmotionClip | None = None,
    ) -> EmotionResult:
        """Δ[t] for ``emotion`` over the frames of ``kp_audio``; ``neutral`` is the artist's neutral clip
        of the same actor, if given (an engine that does not measure against a neutral ignores it)."""

    def emotion_displacements(
        self, emotion: EmotionClip | EmotionPreset, kp_audio: Keypoints, crop: PortraitCrop,
        neutral: EmotionClip | None = None,
    ) -> Keypoints:
        """Only the displacements of :meth:`emotion_result`."""
        return self.emotion_result(emotion, kp_audio, crop, neutral).displacements

    @abc.abstractmethod
    def render(
        self, crop: PortraitCrop, kp_source: Keypoints, kp_driving: Keypoints, indices: Iterable[int]
    ) -> Iterator[tuple[int, np.ndarray]]: ...

    def render_setup(self, crop: PortraitCrop) -> dict[str, np.ndarray] | None:
        """Per-portrait render data worth caching once :meth:`render` has run for ``crop`` (None:
        nothing). The pipeline stores it beside the stages and offers it to :meth:`use_render_setup`."""
        return None

    def use_render_setup(self, crop: PortraitCrop, setup: dict[str, np.ndarray]) -> bool:
        """Reuse cached :meth:`render_setup` data for ``crop`` before rendering; False: not used
        (the frames must be the same either way)."""
        return False


def combine(engine: Engine, kp_audio: Keypoints, displacement: Keypoints | None, strength: np.ndarray) -> Keypoints:
    """``kp_d[t] = kp_a[t] + α[t]·Δ[t]`` on the engine's face-related keypoints (value and jacobian)."""
    value = kp_audio.value.copy()
    jac = kp_audio.jacobian.copy()
    if displacement is None:
        return Keypoints(value, jac, kp_audio.tongue)
    alpha = np.asarray(strength, np.float32).reshape(-1)
    if alpha.shape[0] != value.shape[0]:
        raise ValueError(f"strength has {alpha.shape[0]} frames, motion has {value.shape[0]}")
    idx = list(engine.face_keypoints)
    value[:, idx] += alpha[:, None, None] * displacement.value
    jac[:, idx] += alpha[:, None, None, None] * displacement.jacobian
    return Keypoints(value, jac, kp_audio.tongue)


_MODULES = {"landmark": "eamm_core.engines.landmark", "neural": "eamm_core.engines.neural"}


def get_engine(name: str, options: EngineOptions | None = None) -> Engine:
    """Build an engine by name (``landmark`` or ``neural``); each module exposes ``create(options)``."""
    if name not in _MODULES:
        raise EammError(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")
    module = importlib.import_module(_MODULES[name])
    return module.create(options or EngineOptions())
