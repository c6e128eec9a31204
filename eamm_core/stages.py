"""The cached stages of one job: prepare (crop, audio), motion (kp_s, kp_a) and emotion (Δ).

:class:`CachedStages` is the part of :mod:`eamm_core.pipeline`'s job runner that computes the
stages' cache keys from their inputs' content hashes, parameters and a fingerprint of the code that
computes them (:mod:`eamm_core.cache`), and runs each stage, or takes it from the cache. The runner
subclasses it and provides ``spec``, ``cache``, ``engine``, ``keys``, ``cached``, ``warnings``,
``timings``, ``emotion_reference``, ``_pose_track``/``_emotion_inputs`` (inputs already read while
validating) and ``_report``.

:func:`prepare_inputs` (``eamm prepare``) runs the same prepare stages, without a cache, so what it
writes for inspection is what a job reads: the crop, the audio, the pose track (keyed curves and
arrays included) and the emotion clip with its neutral clip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from eamm_core.cache import (
    Cache,
    array_sha256,
    canonical_key,
    code_fingerprint,
    file_sha256,
    pack_audio,
    pack_crop,
    pack_keypoints,
    unpack_audio,
    unpack_crop,
    unpack_keypoints,
)
from eamm_core.curves import hold_to_length, is_keyed_curve, load_pose_curve_units
from eamm_core.engines.base import combine
from eamm_core.errors import EammError, InputError
from eamm_core.job import JobSpec
from eamm_core.types import AudioFeatures, EmotionClip, EmotionPreset, Keypoints, PortraitCrop, PoseTrack

#: code whose changes invalidate cached prepare results / motion / rendered frames
PREPARE_CODE = ("eamm_core.prepare", "eamm_core.geometry")
MOTION_CODE = ("eamm_core.prepare", "eamm_core.engines", "eamm_core.geometry", "eamm_core.presets", "eamm_core.curves")
RENDER_CODE = ("eamm_core.engines", "eamm_core.render", "eamm_core.geometry", "eamm_core.output")


@dataclass
class Motion:
    """Everything the render reads."""

    crop: PortraitCrop
    kp_source: Keypoints
    kp_driving: Keypoints
    num_frames: int


@dataclass
class StageKeys:
    """The job's cache keys, filled in as the stages are keyed, and its inputs' content hashes."""

    crop: str = ""
    audio: str = ""
    motion: str = ""
    emotion: str | None = None
    job: str = ""
    hashes: dict = field(default_factory=dict)


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


class CachedStages:
    """The stages of a job runner before the render (see the module docstring)."""

    def _stage_crop(self) -> PortraitCrop:
        from eamm_core.prepare.landmark_models import check_landmark_model

        check_landmark_model(self.spec.landmarks)
        path = Path(self.spec.portrait)
        if not path.is_file():
            raise InputError(path, "portrait file not found", "check the path")
        sha = file_sha256(path)
        self.keys.hashes["portrait"] = sha
        self.keys.crop = canonical_key({"stage": "crop", "portrait": sha, "face_index": self.spec.face_index,
                                        "landmarks": self.spec.landmarks, "code": code_fingerprint(*PREPARE_CODE)})
        hit = self.cache.get("crop", self.keys.crop)
        if hit is not None:
            self.cached.append("crop")
            crop = replace(unpack_crop(hit), path=path)
        else:
            from eamm_core.prepare.portrait import load_portrait

            crop = load_portrait(path, face_index=self.spec.face_index, landmarks=self.spec.landmarks)
            self.cache.put("crop", self.keys.crop, pack_crop(crop))
        self.warnings += list(crop.warnings)
        return crop

    def _stage_audio(self) -> AudioFeatures:
        path = Path(self.spec.audio)
        if not path.is_file():
            raise InputError(path, "audio file not found", "check the path")
        sha = file_sha256(path)
        self.keys.hashes["audio"] = sha
        self.keys.audio = canonical_key({"stage": "audio", "audio": sha, "code": code_fingerprint(*PREPARE_CODE)})
        hit = self.cache.get("audio", self.keys.audio)
        if hit is not None:
            self.cached.append("audio")
            audio = replace(unpack_audio(hit), path=path)
        else:
            from eamm_core.prepare.audio import load_audio

            audio = load_audio(path)
            self.cache.put("audio", self.keys.audio, pack_audio(audio))
        self.warnings += list(audio.warnings)
        return audio

    def _compute_keys(self, num_frames: int, alpha: np.ndarray) -> None:
        spec, engine = self.spec, self.engine
        pose_hash = self._pose_hash()
        opts = engine.options
        motion_parts = {"stage": "motion", "engine": engine.describe(), "crop": self.keys.crop,
                        "audio": self.keys.audio, "pose": pose_hash, "smooth_pose": spec.smooth_pose,
                        "pose_absolute": spec.pose_absolute,
                        "options": {"seed": opts.seed, "blink": opts.blink, "idle_motion": opts.idle_motion,
                                    "transcript": opts.transcript, "smooth": opts.smooth, "relative": opts.relative,
                                    "precision": opts.precision},
                        "engine_class": f"{type(engine).__module__}.{type(engine).__qualname__}",
                        "code": code_fingerprint(*MOTION_CODE, type(engine).__module__)}
        self.keys.motion = canonical_key(motion_parts)
        self.keys.emotion = None
        if spec.emotion is not None:
            self.keys.hashes["emotion"] = _input_hash(Path(spec.emotion), "emotion")
            if spec.emotion_neutral is not None:
                self.keys.hashes["emotion_neutral"] = _input_hash(Path(spec.emotion_neutral), "emotion_neutral")
            self.keys.emotion = canonical_key({"stage": "emotion", "emotion": self.keys.hashes["emotion"],
                                               "neutral": self.keys.hashes.get("emotion_neutral"),
                                               "seed": spec.seed, "frames": num_frames, "motion": self.keys.motion})
        self.keys.hashes["strength"] = array_sha256(alpha)
        self.keys.job = canonical_key({"stage": "job", "motion": self.keys.motion, "emotion": self.keys.emotion,
                                       "strength": self.keys.hashes["strength"], "size": str(spec.size),
                                       "code": code_fingerprint(*RENDER_CODE, type(engine).__module__)})

    def _pose_hash(self) -> str:
        pose = self.spec.pose
        if pose is None:
            h = "none"
        elif isinstance(pose, np.ndarray):
            h = "array:" + array_sha256(np.asarray(pose, np.float32))
        else:
            h = "file:" + _input_hash(Path(pose), "pose")
        self.keys.hashes["pose"] = h
        return h

    def _stage_motion(self, crop: PortraitCrop, audio: AudioFeatures, alpha: np.ndarray) -> Motion:
        t0 = time.perf_counter()
        self._report("motion", 0, 2, "source and audio keypoints")
        hit = self.cache.get("motion", self.keys.motion)
        if hit is not None:
            self.cached.append("motion")
            kp_s, kp_a = unpack_keypoints(hit, "source"), unpack_keypoints(hit, "audio")
            self.warnings += [str(w) for w in hit.get("warnings", ())]
        else:
            pose = self._pose_track if self._pose_track is not None else self._load_pose(audio.num_frames)
            self._pose_track = None
            kp_s = self.engine.source_keypoints(crop)
            kp_a = self.engine.audio_keypoints(crop, audio, pose)
            warnings = [str(w) for w in self.engine.motion_warnings]
            entry = {**pack_keypoints(kp_s, "source"), **pack_keypoints(kp_a, "audio"),
                     "warnings": np.array(warnings, dtype=np.str_)}
            self.cache.put("motion", self.keys.motion, entry)
            self.warnings += warnings
        if len(kp_a) != audio.num_frames:
            raise EammError(f"engine {self.engine.name} returned {len(kp_a)} frames of motion for {audio.num_frames}")
        self._report("motion", 1, 2, "emotion displacements")
        delta = self._stage_emotion(crop, kp_a, audio.num_frames)
        self.timings["motion"] = time.perf_counter() - t0
        return Motion(crop, kp_s, combine(self.engine, kp_a, delta, alpha), audio.num_frames)

    def _load_pose(self, num_frames: int):
        from eamm_core.prepare.pose import load_pose

        pose, absolute = self.spec.pose, self.spec.pose_absolute
        if pose is not None and not isinstance(pose, np.ndarray) and is_keyed_curve(Path(pose)):
            pose, units = load_pose_curve_units(Path(pose))
            absolute = absolute or units == "artist"
        if isinstance(pose, np.ndarray):
            arr = np.atleast_2d(np.asarray(pose, np.float32))
            if arr.ndim != 2 or arr.shape[1] not in (6, 7) or arr.shape[0] == 0:
                raise InputError(None, f"pose array has shape {arr.shape}", "give [T,6] values "
                                 "(yaw, pitch, roll, s, tx, ty) per 25 fps frame", field="pose")
            pose = hold_to_length(arr[:, :6], num_frames)  # a 3DDFA tz column is dropped
        return load_pose(pose, num_frames, smooth=self.spec.smooth_pose, absolute=absolute,
                         landmarks=self.spec.landmarks)

    def _stage_emotion(self, crop: PortraitCrop, kp_audio: Keypoints, num_frames: int) -> Keypoints | None:
        if self.keys.emotion is None:
            return None
        hit = self.cache.get("emotion", self.keys.emotion)
        if hit is not None:
            self.cached.append("emotion")
            self.warnings += [str(w) for w in hit.get("warnings", ())]
            self.emotion_reference = str(hit["reference"]) if "reference" in hit else None
            return unpack_keypoints(hit, "delta")
        loaded, self._emotion_inputs = self._emotion_inputs, None
        emotion, neutral = loaded if loaded is not None else self._load_emotion(num_frames)
        result = self.engine.emotion_result(emotion, kp_audio, crop, neutral)
        delta = result.displacements
        warnings = emotion_warnings(emotion, neutral)
        self.warnings += warnings
        self.emotion_reference = result.reference  # which neutral the engine measured the emotion against
        entry = {**pack_keypoints(delta, "delta"), "warnings": np.array(warnings, dtype=np.str_)}
        if self.emotion_reference is not None:
            entry["reference"] = np.array(str(self.emotion_reference))
        self.cache.put("emotion", self.keys.emotion, entry)
        return delta

    def _load_emotion(self, num_frames: int) -> tuple[EmotionClip | EmotionPreset, EmotionClip | None]:
        """The emotion preset or clip, and the neutral clip (not augmented; none for a preset)."""
        path = Path(self.spec.emotion)
        if path.suffix.lower() == ".npz":
            from eamm_core.presets import load_preset

            return load_preset(path), None
        from eamm_core.prepare.emotion import load_emotion_clip

        emotion = load_emotion_clip(path, num_frames, seed=self.spec.seed, landmarks=self.spec.landmarks)
        neutral = None
        if self.spec.emotion_neutral is not None:
            neutral = load_emotion_clip(Path(self.spec.emotion_neutral), num_frames, seed=self.spec.seed, augment=False,
                                        landmarks=self.spec.landmarks)
        return emotion, neutral


class _UncachedStages(CachedStages):
    """The prepare stages alone, without a cache (see :func:`prepare_inputs`)."""

    def __init__(self, spec: JobSpec):
        self.spec = spec
        self.cache = Cache(None)
        self.keys = StageKeys()
        self.cached: list[str] = []
        self.warnings: list[str] = []


def prepare_inputs(spec: JobSpec) -> PreparedInputs:
    """Run every prepare stage of ``spec`` with the job runner's own code (no cache); T = the
    number of MFCC windows. Warnings in the job's order: crop, audio, emotion clip, neutral clip."""
    stages = _UncachedStages(spec)
    # cheapest first, so a bad audio or pose file is reported before the face models load
    audio = stages._stage_audio()
    pose = stages._load_pose(audio.num_frames)
    crop = stages._stage_crop()
    emotion, neutral = stages._load_emotion(audio.num_frames) if spec.emotion is not None else (None, None)
    warnings = [*map(str, crop.warnings), *map(str, audio.warnings), *emotion_warnings(emotion, neutral)]
    return PreparedInputs(crop=crop, audio=audio, pose=pose, emotion=emotion, neutral=neutral,
                          warnings=tuple(warnings))


def emotion_warnings(emotion, neutral) -> list[str]:
    """The emotion clip's warnings, then the neutral clip's (a preset has none)."""
    return [str(w) for item in (emotion, neutral) for w in (getattr(item, "warnings", ()) or ())]


def _input_hash(path: Path, role: str) -> str:
    if not path.exists():
        raise InputError(path, f"{role.replace('_', ' ')} file not found", "check the path")
    return file_sha256(path)
