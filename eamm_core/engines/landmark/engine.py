"""The landmark engine: EAMM's motion representation computed from 68 landmarks, no trained weights.

* ``source_keypoints``: the crop's landmarks in the ten groups of :mod:`.groups` (J = identity).
* ``audio_keypoints``: driven landmarks -- mouth and jaw from phones -> visemes (:mod:`.mouth`),
  seeded blinks (:mod:`.blink`), head pose through the 3D mean face (:mod:`.pose`) -- as keypoints.
* ``emotion_result``: the clip's (or preset's) upper-face displacements from the actor's
  neutral (:mod:`.emotion`) on the three face-related keypoints, mapped to the portrait's face size
  and orientation and to the driven head's per-frame orientation.
* ``render``: keypoints -> driven landmarks (:func:`.groups.landmarks_from_keypoints`), lids and
  lips kept from crossing, then :class:`.render.LandmarkRenderer`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np

from eamm_core.engines.base import EmotionResult, Engine
from eamm_core.engines.landmark import emotion as emo
from eamm_core.engines.landmark.blink import apply_blinks, blink_curve
from eamm_core.engines.landmark.groups import (
    FACE_KEYPOINTS,
    GROUP_NAMES,
    keypoints_from_landmarks,
    landmarks_from_keypoints,
)
from eamm_core.engines.landmark.mouth import apply_mouth, inner_gap, inter_ocular, mouth_track
from eamm_core.engines.landmark.phonemes import PhoneSegments, phones_for_audio
from eamm_core.engines.landmark.pose import repose_sequence, target_poses
from eamm_core.engines.landmark.tongue import tongue_track
from eamm_core.errors import EammError
from eamm_core.geometry.head3d import estimate_pose
from eamm_core.prepare.common import extend_ping_pong
from eamm_core.render.frame_size import resolve_size
from eamm_core.types import AudioFeatures, EmotionClip, EmotionPreset, Keypoints, PortraitCrop, PoseTrack

log = logging.getLogger(__name__)

ENGINE_VERSION = "1"
#: points that follow the head but not speech or blinks: brows, nose bridge, eye corners
HEAD_POINTS = list(range(17, 31)) + [36, 39, 42, 45]
#: a closed eye keeps this fraction of its source opening; lips never cross
MIN_EYE_OPEN = 0.08
PX_TO_NORM = 2.0 / 255.0


class LandmarkEngine(Engine):
    """Default engine (see the module docstring and docs/engine-landmark.md)."""

    name = "landmark"
    face_keypoints = FACE_KEYPOINTS
    face_weights = (1.0, 1.0, 1.0)

    def __init__(self, options=None):
        super().__init__(options)
        #: what the artist should know about the last motion (e.g. a transcript that was not used)
        self.motion_warnings: tuple[str, ...] = ()
        self._setup: dict[str, np.ndarray] | None = None  # the last renderer's mesh, see render_setup

    def describe(self) -> dict:
        return {"engine": self.name, "version": ENGINE_VERSION, "keypoints": list(GROUP_NAMES),
                "face_keypoints": list(FACE_KEYPOINTS), "phones": "pocketsphinx en-us (bundled)"}

    # --- motion --------------------------------------------------------------------------------

    def source_keypoints(self, crop: PortraitCrop) -> Keypoints:
        src = _landmarks(crop)
        return keypoints_from_landmarks(src, src[None])

    def phones(self, audio: AudioFeatures) -> PhoneSegments:
        """Timed phones of the speech (the slow part of the motion stage; a pure function of the
        samples and ``options.transcript``)."""
        try:
            phones = phones_for_audio(audio.samples, self.options.transcript)
        except (RuntimeError, OSError, ImportError) as exc:  # CancelledError passes through
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
            raise EammError(f"phone recognition failed ({reason}): reinstall pocketsphinx "
                            "(pip install pocketsphinx==5.1.1)") from None
        self.motion_warnings = tuple(phones.warnings)
        return phones

    def driven_landmarks(self, crop: PortraitCrop, audio: AudioFeatures, pose: PoseTrack) -> np.ndarray:
        """Driven landmarks [T,68,2] (crop pixels): mouth, jaw, blinks, head pose."""
        return self._driven(crop, audio, pose)[0]

    def _driven(self, crop: PortraitCrop, audio: AudioFeatures, pose: PoseTrack) -> tuple[np.ndarray, np.ndarray]:
        """Driven landmarks [T,68,2] and tongue visibility [T] (float32), from one phone decoding."""
        src = _landmarks(crop)
        n = audio.num_frames
        phones = self.phones(audio)
        tongue = tongue_track(phones, n)
        track = mouth_track(phones, audio.loudness, n, rest_open=inner_gap(src) / inter_ocular(src))
        drv = apply_mouth(src, track)
        drv = apply_blinks(drv, blink_curve(n, self.options.seed, self.options.blink))
        portrait = estimate_pose(src)
        targets = target_poses(pose, portrait, n, idle=self.options.idle_motion, seed=self.options.seed, src_lm=src)
        return repose_sequence(drv, portrait, targets), tongue

    def audio_keypoints(self, crop: PortraitCrop, audio: AudioFeatures, pose: PoseTrack) -> Keypoints:
        """The driven landmarks as keypoints, with the per-frame tongue visibility (cached with them)."""
        drv, tongue = self._driven(crop, audio, pose)
        kp = keypoints_from_landmarks(_landmarks(crop), drv)
        return Keypoints(kp.value, kp.jacobian, tongue)

    # --- emotion -------------------------------------------------------------------------------

    def emotion_result(self, emotion: EmotionClip | EmotionPreset, kp_audio: Keypoints,
                       crop: PortraitCrop, neutral: EmotionClip | None = None) -> EmotionResult:
        """Δ[t] on the three face-related keypoints (value in [-1,1] units, jacobian) and the neutral
        reference they were measured against."""
        n = len(kp_audio)
        unit, reference = self._unit_displacements(emotion, neutral)
        dv, dj = _fit_frames(unit.value, n), _fit_frames(unit.jacobian, n)
        src = _landmarks(crop)
        scale, rot, _ = emo.similarity(emo.mean_face_3d()[emo.STABLE_POINTS, :2], src[emo.STABLE_POINTS])
        head = _head_linear(src, landmarks_from_keypoints(src, kp_audio))  # [T,2,2]
        dv_px = np.einsum("tij,tkj->tki", head, scale * np.einsum("ij,tkj->tki", rot, dv))
        dj_portrait = np.einsum("ij,tkjl,ml->tkim", rot, dj, rot)
        dj_drv = np.einsum("tij,tkjl->tkil", head, dj_portrait)
        delta = Keypoints((dv_px * PX_TO_NORM).astype(np.float32), dj_drv.astype(np.float32))
        return EmotionResult(delta, reference)

    def _unit_displacements(self, emotion, neutral) -> tuple[Keypoints, str]:
        if isinstance(emotion, EmotionPreset):
            reference = f"emotion preset {emotion.name}: " + str(
                emotion.meta.get("reference", "neutral reference chosen when the preset was made"))
            return emotion.displacements, reference
        if not isinstance(emotion, EmotionClip):
            raise EammError(f"the landmark engine cannot use an emotion of type {type(emotion).__name__}")
        neutral_lm = None if neutral is None else neutral.landmarks_px
        kp, _, ref = emo.clip_displacements(emotion.landmarks_px, neutral_lm)
        log.info("emotion %s: %s", getattr(emotion.path, "name", "clip"), ref.detail)
        return kp, ref.detail

    # --- render --------------------------------------------------------------------------------

    def driving_landmarks(self, crop: PortraitCrop, kp_driving: Keypoints) -> np.ndarray:
        """Keypoints -> driven landmarks [T,68,2] with lids and lips kept from crossing."""
        src = _landmarks(crop)
        return constrain(src, landmarks_from_keypoints(src, kp_driving))

    def render_setup(self, crop: PortraitCrop) -> dict[str, np.ndarray] | None:
        """Per-portrait render data worth caching once :meth:`render` has run for ``crop`` (None
        before): the mesh's triangulation (the one step that needs scipy) and the mouth interior's
        colours and finish measured at the frame size (``look_size``)."""
        setup = self._setup
        if not _setup_fits(setup, crop):
            return None
        return dict(setup)

    def use_render_setup(self, crop: PortraitCrop, setup: dict[str, np.ndarray]) -> bool:
        """Reuse :meth:`render_setup`'s data (e.g. from the pipeline's cache) for ``crop``: same
        frames, no triangulation or supersampling. Refused (False) if it was made for another crop."""
        setup = {k: np.asarray(v) for k, v in setup.items()}
        if not _setup_fits(setup, crop) or "triangles" not in setup:
            return False
        self._setup = setup
        return True

    def render(self, crop: PortraitCrop, kp_source: Keypoints, kp_driving: Keypoints,
               indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Frames in the order of ``indices``, rendered one after another on the caller's thread."""
        from eamm_core.engines.landmark.mouth_colour import look_from_arrays, look_to_arrays
        from eamm_core.engines.landmark.render import LandmarkRenderer

        lm = self.driving_landmarks(crop, kp_driving)
        tongue = np.zeros(len(lm)) if kp_driving.tongue is None else np.asarray(kp_driving.tongue, np.float64)
        order = [int(i) for i in indices]
        for i in order:
            if not 0 <= i < len(lm):
                raise EammError(f"frame {i} is outside the motion's {len(lm)} frames")
        setup = self._setup if _setup_fits(self._setup, crop) else {}
        size = resolve_size(self.options.size, crop.source_from_crop).size
        look = None
        if "look_size" in setup and int(np.asarray(setup["look_size"])) == size:
            look = look_from_arrays(setup)
        renderer = LandmarkRenderer(crop, size=size, triangles=setup.get("triangles"), mouth_look=look,
                                    triangles68=setup.get("triangles68"))
        dense = {} if renderer.mesh68 is None else {"triangles68": renderer.mesh68.triangles}
        self._setup = {"landmarks": _landmarks(crop), "image": np.asarray(crop.image),
                       "triangles": renderer.mesh.triangles, "look_size": np.asarray(size),
                       **dense, **look_to_arrays(renderer.mouth.look)}
        for i in order:
            yield i, renderer.render(lm[i], tongue=float(tongue[i]))


def _landmarks(crop: PortraitCrop) -> np.ndarray:
    lm = np.asarray(crop.landmarks_px, np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise EammError(f"the portrait crop needs 68 finite landmarks, got shape {lm.shape}")
    return lm


def _setup_fits(setup: dict | None, crop: PortraitCrop) -> bool:
    """Render setup data made for this crop (same landmarks and pixels)?"""
    return (setup is not None and "landmarks" in setup and "image" in setup
            and np.array_equal(setup["landmarks"], _landmarks(crop))
            and np.array_equal(setup["image"], np.asarray(crop.image)))


def _fit_frames(x: np.ndarray, n: int) -> np.ndarray:
    """Ping-pong extend or cut [N,...] to n frames."""
    return extend_ping_pong(np.asarray(x, np.float64), n)


def _head_linear(src: np.ndarray, drv: np.ndarray) -> np.ndarray:
    """Per-frame 2x2 linear part [T,2,2] of the affine map src -> drv on :data:`HEAD_POINTS`."""
    s = src[HEAD_POINTS] - src[HEAD_POINTS].mean(0)
    d = drv[:, HEAD_POINTS] - drv[:, HEAD_POINTS].mean(1, keepdims=True)
    cross = np.einsum("tni,nj->tij", d, s)
    return cross @ np.linalg.inv(s.T @ s)


def constrain(src: np.ndarray, drv: np.ndarray) -> np.ndarray:
    """Keep each eye at least :data:`MIN_EYE_OPEN` of its source opening (measured across the lid
    axis) and the lower inner lip from rising above the upper one."""
    out = np.array(drv, np.float64, copy=True)
    for upper, lower in (([37, 38], [41, 40]), ([43, 44], [47, 46]), ([61, 62, 63], [67, 66, 65])):
        is_eye = len(upper) == 2
        floor = MIN_EYE_OPEN * (src[lower, 1] - src[upper, 1]) if is_eye else np.zeros(len(upper))
        gap = out[:, lower, 1] - out[:, upper, 1]
        short = np.maximum(floor[None] - gap, 0.0)
        out[:, upper, 1] -= short / 2.0
        out[:, lower, 1] += short / 2.0
    return out.astype(np.float32)
