"""Model time versus scene time (no bpy: tested in the main environment).

The model works at 25 fps: model frame ``k`` is the instant ``k / 25`` seconds into the sound file.
A Blender scene runs at ``fps / fps_base`` frames per second (24, 25, 30, 60, 29.97 = 30000/1001 …).
A sound strip plays in real time whatever the scene rate, so everything here is expressed through
:class:`AudioPlacement`: where the sound's time 0 sits on the timeline and which scene frames of the
strip are visible.

Arithmetic is exact (:class:`fractions.Fraction`), so a frame map never drifts, even after an hour.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

MODEL_FPS = 25


def scene_fps(fps: int, fps_base: float = 1.0) -> Fraction:
    """The scene's exact frame rate; ``fps_base`` is stored as a float32 (1.001 → 1001/1000)."""
    if fps <= 0 or fps_base <= 0:
        raise ValueError(f"scene frame rate {fps}/{fps_base} is not positive: set Output ▸ Frame Rate")
    return Fraction(fps) / Fraction(fps_base).limit_denominator(10000)


def _exact(value: float | int | Fraction) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value)


def round_half_up(x: Fraction) -> int:
    """Nearest integer, halves upwards (deterministic, unlike banker's rounding)."""
    return math.floor(x + Fraction(1, 2))


def round_half_down(x: Fraction) -> int:
    """Nearest integer, halves downwards: a scene frame exactly between two model frames shows the
    earlier one, so a strip that ends with the sound never asks for a frame past its end."""
    return math.ceil(x - Fraction(1, 2))


@dataclass(frozen=True)
class AudioPlacement:
    """Where a sound strip sits on the timeline.

    sound_frame_start: the scene frame where the sound file's time 0 plays (Blender's
    ``strip.frame_start``, may be fractional); sound_offset_s: Blender's ``strip.sound_offset``
    (seconds skipped at the file's start); visible_start/visible_end: the strip's visible scene
    frames, half-open (``frame_final_start``/``frame_final_end``); fps: the exact scene rate.
    """

    sound_frame_start: Fraction
    sound_offset_s: Fraction
    visible_start: int
    visible_end: int
    fps: Fraction

    @classmethod
    def make(cls, sound_frame_start, sound_offset_s, visible_start, visible_end, fps) -> AudioPlacement:
        if visible_end <= visible_start:
            raise ValueError("the audio strip has no visible frames: make it at least one frame long")
        return cls(_exact(sound_frame_start), _exact(sound_offset_s), int(visible_start), int(visible_end), _exact(fps))

    @property
    def length(self) -> int:
        return self.visible_end - self.visible_start

    def time_at_frame(self, frame: float | Fraction) -> Fraction:
        """Seconds into the sound file shown at scene frame ``frame``."""
        return (_exact(frame) - self.sound_frame_start) / self.fps + self.sound_offset_s

    def frame_at_time(self, seconds: float | Fraction) -> Fraction:
        """Scene frame (fractional) at which the sound file reaches ``seconds``."""
        return self.sound_frame_start + (_exact(seconds) - self.sound_offset_s) * self.fps

    def model_frame_at(self, frame: int) -> int:
        """The model frame nearest in time to scene frame ``frame`` (ties: the earlier one)."""
        return round_half_down(self.time_at_frame(frame) * MODEL_FPS)


@dataclass(frozen=True)
class ModelRange:
    """The half-open range of 25 fps frames a job renders, and the scene frames to sample curves at."""

    start: int
    end: int
    sample_frames: tuple[float, ...]

    @property
    def count(self) -> int:
        return self.end - self.start


def sample_frames(placement: AudioPlacement, start: int, end: int) -> tuple[float, ...]:
    """Scene frames (fractional) of model frames ``start``..``end-1``: where to evaluate the curves."""
    return tuple(float(placement.frame_at_time(Fraction(k, MODEL_FPS))) for k in range(start, end))


def model_range(placement: AudioPlacement) -> ModelRange:
    """Model frames needed to cover the strip's visible frames, and where each one falls in the scene."""
    start = max(0, placement.model_frame_at(placement.visible_start))
    end = max(start + 1, placement.model_frame_at(placement.visible_end - 1) + 1)
    return ModelRange(start, end, sample_frames(placement, start, end))


def frame_map(placement: AudioPlacement, available: range) -> list[int]:
    """For each visible scene frame, the model frame to show (clamped to the frames that exist).

    ``available`` is the range of model frames on disk. The list has ``placement.length`` entries, so an
    image strip built from it starts and ends exactly with the sound strip at any scene rate.
    """
    if len(available) == 0:
        raise ValueError("the job produced no frames")
    lo, hi = available.start, available.stop - 1
    return [min(hi, max(lo, placement.model_frame_at(f))) for f in range(placement.visible_start, placement.visible_end)]


def strip_length(model_frames: int, fps: Fraction) -> int:
    """Scene frames spanned by ``model_frames`` frames at 25 fps (nearest whole frame)."""
    return round_half_up(Fraction(model_frames) * _exact(fps) / MODEL_FPS)


def sample(evaluate: Callable[[float], float], frames: Sequence[float], lo: float | None = None,
           hi: float | None = None) -> list[float]:
    """``evaluate`` (e.g. an F-curve's) at each scene frame, clamped to [lo, hi] when given."""
    out = []
    for f in frames:
        v = float(evaluate(f))
        if lo is not None:
            v = max(lo, v)
        if hi is not None:
            v = min(hi, v)
        out.append(v)
    return out


def resample(values: Sequence[float], src_fps: float | Fraction, dst_fps: float | Fraction, count: int) -> list[float]:
    """Linear resampling of a per-frame curve from one frame rate to another, by time.

    Output frame ``i`` is at ``i / dst_fps`` s; values before/after the input hold its ends.
    """
    if not values:
        raise ValueError("cannot resample an empty curve")
    src, dst = _exact(src_fps), _exact(dst_fps)
    out = []
    last = len(values) - 1
    for i in range(count):
        pos = Fraction(i) * src / dst
        j = min(last, math.floor(pos))
        if j >= last:
            out.append(float(values[last]))
            continue
        w = float(pos - j)
        out.append(float(values[j]) * (1.0 - w) + float(values[j + 1]) * w)
    return out


def chunk_model_range(placement: AudioPlacement, model_start: int, model_end: int, first: int, last: int) -> range:
    """The 25 fps frames a farm chunk of scene frames ``first``..``last`` (inclusive) renders.

    Consecutive chunks split the job's model frames ``model_start``..``model_end-1`` exactly, with
    neither gaps nor overlaps: scene frame ``f`` owns the model frames after those of ``f - 1`` up to
    the one it shows (the first visible frame also owns those before it, the last those after it).
    A chunk outside the strip's visible frames renders nothing (an empty range).
    """
    def boundary(f: int) -> int:  # first model frame owned by scene frame f (or by a later one)
        if f <= placement.visible_start:
            return model_start
        if f >= placement.visible_end:
            return model_end
        return min(model_end, max(model_start, placement.model_frame_at(f - 1) + 1))

    return range(boundary(first), max(boundary(first), boundary(last + 1)))
