"""Stage 1, prepare: turn the artist's files into what the model reads (no model weights needed).

portrait -> :class:`~eamm_core.types.PortraitCrop` (:mod:`.portrait`), speech ->
:class:`~eamm_core.types.AudioFeatures` (:mod:`.audio`), pose -> :class:`~eamm_core.types.PoseTrack`
(:mod:`.pose`), emotion clip -> :class:`~eamm_core.types.EmotionClip` (:mod:`.emotion`).
:func:`prepare_inputs` does all of it for a :class:`~eamm_core.job.JobSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from eamm_core.job import JobSpec
    from eamm_core.types import AudioFeatures, EmotionClip, EmotionPreset, PortraitCrop, PoseTrack


@dataclass(frozen=True)
class PreparedInputs:
    """Everything the motion stage reads; ``warnings`` gathers every stage's warnings, in order."""

    crop: PortraitCrop
    audio: AudioFeatures
    pose: PoseTrack
    emotion: EmotionClip | EmotionPreset | None
    neutral: EmotionClip | None
    warnings: tuple[str, ...]

    @property
    def num_frames(self) -> int:
        return self.audio.num_frames


def load_emotion(path: str | Path, num_frames: int, *, seed: int = 0, landmarks: str | None = None):
    """An emotion preset (``.npz``) or a clip (video / folder of frames, tracked with landmark model
    ``landmarks``) for ``num_frames`` frames."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        from eamm_core.presets import load_preset

        return load_preset(path)
    from eamm_core.prepare.emotion import load_emotion_clip

    return load_emotion_clip(path, num_frames, seed=seed, landmarks=landmarks)


def prepare_inputs(spec: JobSpec, num_frames: int | None = None) -> PreparedInputs:
    """Run every prepare stage for ``spec``. ``num_frames`` overrides the audio's frame count
    (pose and emotion are sized to it); by default T = the number of MFCC windows."""
    from eamm_core.prepare.audio import load_audio
    from eamm_core.prepare.portrait import load_portrait
    from eamm_core.prepare.pose import load_pose

    # cheapest first, so a bad audio or pose file is reported before the face models load
    audio = load_audio(spec.audio)
    t = int(num_frames) if num_frames is not None else audio.num_frames
    pose = load_pose(spec.pose, t, smooth=spec.smooth_pose, landmarks=spec.landmarks)
    crop = load_portrait(spec.portrait, face_index=spec.face_index, landmarks=spec.landmarks)
    emotion = None if spec.emotion is None else load_emotion(spec.emotion, t, seed=spec.seed, landmarks=spec.landmarks)
    neutral = None
    if spec.emotion_neutral is not None:
        from eamm_core.prepare.emotion import load_emotion_clip

        neutral = load_emotion_clip(spec.emotion_neutral, t, seed=spec.seed, landmarks=spec.landmarks)
    warnings = list(crop.warnings) + list(audio.warnings)
    for item in (emotion, neutral):
        warnings += list(getattr(item, "warnings", ()) or ())
    return PreparedInputs(crop=crop, audio=audio, pose=pose, emotion=emotion, neutral=neutral,
                          warnings=tuple(warnings))
