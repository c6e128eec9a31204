"""Emotion presets from clips: the landmark engine's emotion measurement, stored for reuse.

The result is written with :func:`eamm_core.presets.save_preset` (format described there);
``scripts/make_emotion_preset.py`` is the command-line front end.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from eamm_core.engines.landmark.emotion import clip_displacements
from eamm_core.prepare.emotion import align_clip
from eamm_core.types import EmotionPreset


def extract_preset(clip_path: str | Path, *, name: str | None = None, neutral_path: str | Path | None = None,
                   max_frames: int | None = None) -> EmotionPreset:
    """Measure an emotion clip (and optionally a neutral clip/image of the same actor) into a preset."""
    clip_path = Path(clip_path)
    _, marks, _, _ = align_clip(clip_path, max_frames)
    neutral = None
    if neutral_path is not None:
        _, neutral, _, _ = align_clip(Path(neutral_path), max_frames)
    kp, offsets, ref = clip_displacements(marks, neutral)
    sha = hashlib.sha256(clip_path.read_bytes()).hexdigest()
    return EmotionPreset(name=name or clip_path.stem, displacements=kp, landmark_offsets=offsets.astype(np.float32),
                         meta={"reference": ref.detail, "source": clip_path.name, "source_sha256": sha})
