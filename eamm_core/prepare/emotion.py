"""Emotion reference clip -> :class:`~eamm_core.types.EmotionClip` (as the reference
implementation and the paper prepare it).

1. Frames are taken at 25 fps by time (:mod:`eamm_core.prepare.video`), from a video or a folder.
2. Each frame's face (largest) gets 68 landmarks; a least-squares similarity on landmarks 0-34
   (jaw, brows, nose: nothing that moves with speech) maps it onto the template -> 256x256 crop.
   A frame without a face reuses the nearest earlier landmarks (a warning counts them).
3. A clip shorter than the audio is extended by ping-pong, a longer one is cut.
4. Test-time augmentation (what the neural emotion network reads), all random numbers drawn from
   one ``numpy.random.default_rng(seed)`` in a fixed order, so a seed fixes the result:

   * temporal perturbation: output frame t shows aligned frame ``clip(t + U{-2..2}, 0, T-1)``;
   * mouth occlusion: pixels x in [85,185), y in [160,220) replaced by uniform noise, per frame;
   * horizontal flip of the whole clip with probability 0.5;
   * perspective warp per frame: tilt ``pers`` in [20,30) px and enlargement ``enlarge`` in
     [20,40) px, each with a random sign, about a random axis; border pixels replicated.

   The reference also rotates the whole clip by up to 30 degrees; the paper and this product do not.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from eamm_core.cache import file_sha256
from eamm_core.cancel import check_cancelled
from eamm_core.errors import InputError
from eamm_core.prepare.clip_frames import AugmentedFrames, IndexedFrames
from eamm_core.prepare.common import extend_ping_pong
from eamm_core.prepare.faces import (
    CLIP_ALIGN_POINTS,
    CROP_SIZE,
    align_to_template,
    apply_transform,
    warp_to_crop,
)
from eamm_core.prepare.landmark_models import FaceTracker
from eamm_core.prepare.landmark_models import landmarker as get_landmarker
from eamm_core.prepare.video import MODEL_FPS, iter_frames
from eamm_core.types import EmotionClip

log = logging.getLogger(__name__)

MOUTH_BOX = (85, 160, 185, 220)  # x0, y0, x1, y1 in the 256 crop (MouthCrop centre 135,190, 100x60)
TEMPORAL_RADIUS = 2
PERS_RANGE = (20, 30)
ENLARGE_RANGE = (20, 40)
#: a clip must show a face within this many frames (one second at 25 fps)
MAX_LEADING_WITHOUT_FACE = 25
NO_FACE_FIX = "use a clip where one face is visible, frontal and at least 80 px wide"


def align_clip(path: Path, num_frames: int | None,
               landmarks: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Read and align the clip: (aligned uint8 [N,256,256,3], landmarks_px [N,68,2], source_index [N],
    warnings), the landmarks from model ``landmarks`` (None = the default). Frames without a face
    reuse the previous landmarks."""
    # clip faces are usually large: the cheap pass without upsampling first, then the full search
    track = FaceTracker(get_landmarker(landmarks), upsamples=(0, None))
    aligned, marks, sources, pending = [], [], [], []
    last, missing = None, 0
    for src, frame in iter_frames(path, MODEL_FPS, num_frames):
        check_cancelled()
        lm = track(frame)
        if lm is None:
            missing += 1
            if last is None:
                pending.append((src, np.array(frame)))
                if len(pending) >= MAX_LEADING_WITHOUT_FACE:
                    break
                continue
            lm = last
        if last is None and pending:  # frames before the first face take its landmarks
            for p_src, p_frame in pending:
                _append_aligned(p_frame, lm, p_src, aligned, marks, sources)
            pending = []
        last = lm
        _append_aligned(frame, lm, src, aligned, marks, sources)
    if not aligned:
        raise InputError(path, "no face found", NO_FACE_FIX)
    warnings = []
    if missing:
        warnings.append(f"no face in {missing} of {len(aligned)} frames of {path.name}; "
                        "those frames reuse the nearest landmarks")
    return np.stack(aligned), np.stack(marks), np.asarray(sources, np.int64), warnings


def _append_aligned(frame, lm, src, aligned, marks, sources) -> None:
    m = align_to_template(lm, CLIP_ALIGN_POINTS)
    aligned.append(warp_to_crop(frame, m, CROP_SIZE))
    marks.append(apply_transform(m, lm))
    sources.append(int(src))


def _draw(rng: np.random.Generator) -> tuple[np.ndarray, float, float, bool]:
    """One output frame's random numbers, in the reference's order: the mouth noise, then the
    perspective warp's tilt, enlargement and axis."""
    x0, y0, x1, y1 = MOUTH_BOX
    noise = rng.integers(0, 256, size=(y1 - y0, x1 - x0, 3), dtype=np.uint8)
    pers = float(rng.integers(*PERS_RANGE)) * (1.0 if rng.random() < 0.5 else -1.0)
    enlarge = float(rng.integers(*ENLARGE_RANGE)) * (1.0 if rng.random() < 0.5 else -1.0)
    return noise, pers, enlarge, bool(rng.random() < 0.5)


def _apply(aligned_frame: np.ndarray, params, flip: bool) -> np.ndarray:
    """Occlude the mouth with ``params``' noise, mirror if ``flip``, then the perspective warp."""
    noise, pers, enlarge, vertical_axis = params
    x0, y0, x1, y1 = MOUTH_BOX
    img = aligned_frame.copy()
    img[y0:y1, x0:x1] = noise[:, :, :img.shape[2]]
    if flip:
        img = img[:, ::-1]
    return _perspective(np.ascontiguousarray(img), pers, enlarge, vertical_axis)


def _perspective(img: np.ndarray, pers: float, enlarge: float, vertical_axis: bool) -> np.ndarray:
    h, w = img.shape[:2]
    e, p = enlarge / 2.0, pers / 2.0
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    if vertical_axis:  # left edge shorter, right edge longer (or the reverse): a turn left/right
        dst = [[-e, -e + p], [w + e, -e - p], [w + e, h + e + p], [-e, h + e - p]]
    else:  # top edge shorter, bottom longer (or the reverse): a nod
        dst = [[-e + p, -e], [w + e - p, -e], [w + e + p, h + e], [-e - p, h + e]]
    m = cv2.getPerspectiveTransform(src, np.float32(dst))
    return cv2.warpPerspective(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _lazy_augmented(base: np.ndarray, index: np.ndarray, seed: int) -> AugmentedFrames:
    rng = np.random.default_rng(seed)
    t = len(index)
    picked = np.clip(np.arange(t) + rng.integers(-TEMPORAL_RADIUS, TEMPORAL_RADIUS + 1, size=t), 0, t - 1)
    flip = bool(rng.random() < 0.5)
    return AugmentedFrames(base, index, picked, flip, rng, _draw, _apply)


def augment_clip(aligned: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The seeded test-time augmentation (module docstring). Returns (augmented uint8 [T,256,256,3],
    picked int [T]: the aligned frame each output frame was drawn from, flipped: whether the clip
    was mirrored)."""
    aligned = np.asarray(aligned)
    lazy = _lazy_augmented(aligned, np.arange(len(aligned)), seed)
    return np.asarray(lazy), lazy.picked, lazy.flip


def load_emotion_clip(path: str | Path, num_frames: int, *, seed: int = 0, augment: bool = True,
                      landmarks: str | None = None) -> EmotionClip:
    """Emotion clip for ``num_frames`` output frames (see module docstring). ``aligned`` and
    ``augmented`` index like [T,256,256,3] arrays but hold only the clip's own frames
    (:mod:`eamm_core.prepare.clip_frames`): memory does not grow with ``num_frames``."""
    path = Path(path)
    num_frames = max(1, int(num_frames))
    aligned, marks, sources, warnings = align_clip(path, num_frames, landmarks)
    idx = extend_ping_pong(np.arange(len(aligned)), num_frames)
    frames = IndexedFrames(aligned, idx)
    augmented = _lazy_augmented(aligned, idx, seed) if augment else frames
    return EmotionClip(aligned=frames, augmented=augmented, landmarks_px=marks[idx].astype(np.float32),
                       source_index=sources[idx], fps=MODEL_FPS, seed=int(seed), path=path,
                       sha256=file_sha256(path), warnings=tuple(warnings))
