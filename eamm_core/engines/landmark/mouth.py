"""Timed phones + loudness -> per-frame mouth shapes -> driven mouth and jaw landmarks.

Coarticulation follows the idea of Cohen & Massaro's dominance functions (1993): every phone's
viseme target has a dominance that is flat over the phone and decays (Gaussian, ``SPREAD_S``)
outside it; the mouth shape at any instant is the dominance-weighted mean of the targets around
it. The blend is evaluated at 100 Hz and averaged over each 40 ms output frame, ``LEAD_S`` early
(the mouth leads the sound: on real speech the opening correlates best with loudness about two
frames ahead). Bilabials (P, B, M) then force the lips shut on the frame nearest their centre, even
in fast speech. Loudness scales the opening (louder = wider) and silence returns to rest: the
portrait's own lips (``rest_open``; closed lips stay closed, a photo's parted lips stay as taken).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from eamm_core.cancel import check_cancelled
from eamm_core.engines.landmark.phonemes import PhoneSegments
from eamm_core.engines.landmark.visemes import REST, VISEMES, MouthShape, viseme_of

FPS = 25.0
GRID_HZ = 100.0
LEAD_S = 0.06
SPREAD_S = 0.035
#: phones further than this from a grid point are left out of its blend (weight below exp(-100))
REACH_S = 10.0 * SPREAD_S
#: grid points blended at a time (20 s at 100 Hz)
BLEND_BLOCK = 2000
#: loudness (normalised to the clip's own range) below which a frame is silent
SILENCE_LEVEL = 0.12
#: opening gain at the quietest and loudest voiced frames (the visemes' openings are those of
#: speech at about half the clip's loudness range)
GAIN_RANGE = (0.3, 1.9)
LEAD_FRAMES = 1
#: silences at least this long return to the portrait's own lips, easing over REST_RAMP_S at each end
REST_AFTER_S, REST_RAMP_S = 0.6, 0.24
#: how much full lip rounding narrows the mouth on top of the viseme's width (set with the width
#: targets from scripts/measure_visemes.py, see docs/engine-landmark.md)
ROUND_NARROWING = 0.056


@dataclass(frozen=True)
class MouthTrack:
    """Per-frame mouth shape, arrays [T] float64 (see :class:`~.visemes.MouthShape` for units)."""

    open: np.ndarray
    width: np.ndarray
    round: np.ndarray
    raise_: np.ndarray
    tuck: np.ndarray
    closed: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.open.shape[0])

    @classmethod
    def rest(cls, num_frames: int) -> MouthTrack:
        z = np.zeros(num_frames)
        return cls(z.copy(), np.ones(num_frames), z.copy(), z.copy(), z.copy(), np.zeros(num_frames, bool))


def _segment_shapes(phones: PhoneSegments, visemes: Mapping[str, MouthShape] = VISEMES) -> list[MouthShape]:
    names = [viseme_of(p) for p in phones.labels]
    shapes = []
    for i, name in enumerate(names):
        if name == "HH":  # /h/ takes the shape of the following sound (or the previous one)
            nxt = next((n for n in names[i + 1:] if n not in ("HH", "sil")), None)
            prev = next((n for n in reversed(names[:i]) if n not in ("HH", "sil")), None)
            name = nxt or prev or "sil"
            shapes.append(visemes[name].__class__(**{**visemes[name].__dict__, "closed": False,
                                                     "dominance": 0.3}))
        else:
            shapes.append(visemes[name])
    return shapes


def _blend(phones: PhoneSegments, shapes: list[MouthShape], grid: np.ndarray) -> np.ndarray:
    """Dominance-weighted targets on ``grid`` (seconds, ascending) -> [len(grid), 5] (open, width,
    round, raise, tuck)."""
    if not shapes:
        return np.tile([REST.open, REST.width, REST.round, REST.raise_, REST.tuck], (len(grid), 1))
    weight = np.array([s.dominance for s in shapes])
    targets = np.array([[s.open, s.width, s.round, s.raise_, s.tuck] for s in shapes])
    return blend_phones(phones, weight, targets, grid, phone_floor=1e-9)


def blend_phones(phones: PhoneSegments, weight: np.ndarray, targets: np.ndarray, grid: np.ndarray,
                 phone_floor: float = 0.0, total_floor: float = 0.0) -> np.ndarray:
    """Per-phone ``targets`` [P, K] blended on ``grid`` (seconds, ascending) -> [len(grid), K]: each
    phone's dominance is ``weight`` over the phone, decaying as a Gaussian of :data:`SPREAD_S` outside
    it. ``phone_floor`` is added to every phone's dominance, ``total_floor`` to their sum (either keeps
    the blend defined far from every phone). Evaluated in blocks of :data:`BLEND_BLOCK` grid points
    against the phones within :data:`REACH_S` of the block (plus one more each side), so memory and time
    grow linearly with the length; phones further away weigh less than exp(-100) and are left out."""
    starts, ends = np.asarray(phones.starts, np.float64), np.asarray(phones.ends, np.float64)
    order = np.argsort(starts, kind="stable")
    starts, ends, weight, targets = starts[order], ends[order], weight[order], targets[order]
    reach_end = np.maximum.accumulate(ends)  # phones may overlap: the latest end so far
    centre, half = (starts + ends) / 2.0, np.maximum((ends - starts) / 2.0, 1e-3)
    out = np.empty((len(grid), targets.shape[1]))
    for b0 in range(0, len(grid), BLEND_BLOCK):
        check_cancelled()
        g = grid[b0:b0 + BLEND_BLOCK]
        lo = max(int(np.searchsorted(reach_end, g[0] - REACH_S, "left")) - 1, 0)
        hi = min(int(np.searchsorted(starts, g[-1] + REACH_S, "right")) + 1, len(starts))
        dist = np.maximum(np.abs(g[:, None] - centre[None, lo:hi]) - half[None, lo:hi], 0.0)
        dom = weight[None, lo:hi] * np.exp(-(dist / SPREAD_S) ** 2)
        if phone_floor:
            dom += phone_floor
        out[b0:b0 + len(g)] = dom @ targets[lo:hi] / (dom.sum(1, keepdims=True) + total_floor)
    return out


def _normalised_loudness(loudness: np.ndarray) -> np.ndarray:
    loud = np.asarray(loudness, np.float64)
    if loud.size == 0:
        return loud
    lo, hi = np.percentile(loud, 5), np.percentile(loud, 97)
    if hi - lo < 1e-3:
        return np.ones_like(loud) if hi > 0.3 else np.zeros_like(loud)
    return np.clip((loud - lo) / (hi - lo), 0.0, 1.0)


def _closure_frames(phones: PhoneSegments, shapes: list[MouthShape], num_frames: int) -> np.ndarray:
    closed = np.zeros(num_frames, bool)
    for s, a, b in zip(shapes, phones.starts, phones.ends):
        if s.closed:
            first = int(np.floor((a - LEAD_S) * FPS + 0.5))
            last = int(np.floor((b - LEAD_S) * FPS - 0.5))
            mid = int(np.floor(((a + b) / 2.0 - LEAD_S) * FPS))
            for k in range(min(first, mid), max(last, mid) + 1):
                if 0 <= k < num_frames:
                    closed[k] = True
    return closed


def mouth_track(phones: PhoneSegments, loudness: np.ndarray, num_frames: int,
                visemes: Mapping[str, MouthShape] = VISEMES, rest_open: float = 0.0) -> MouthTrack:
    """Per-frame mouth shapes for ``num_frames`` 25 fps frames from timed phones and the per-frame
    loudness (``AudioFeatures.loudness``); ``visemes`` replaces the targets (for measuring them);
    ``rest_open``: the portrait's own inner-lip gap (IOD units), which silent frames return to."""
    shapes = _segment_shapes(phones, visemes)
    sub = int(GRID_HZ / FPS)
    grid = (np.arange(num_frames * sub) + 0.5) / GRID_HZ + LEAD_S
    p = _blend(phones, shapes, grid).reshape(num_frames, sub, 5).mean(1)
    loud = _normalised_loudness(loudness)
    loud = np.pad(loud, (0, max(0, num_frames - loud.size)))[:num_frames]
    ahead = np.concatenate([loud[LEAD_FRAMES:], np.repeat(loud[-1:], LEAD_FRAMES)]) if loud.size else loud
    voiced = np.maximum(loud, ahead)
    gain = GAIN_RANGE[0] + (GAIN_RANGE[1] - GAIN_RANGE[0]) * voiced
    silent = voiced < SILENCE_LEVEL
    gain = np.where(silent, 0.0, gain)
    gain = np.convolve(np.pad(gain, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    open_ = p[:, 0] * gain + max(float(rest_open), 0.0) * _long_silence(silent)
    raise_ = p[:, 3] * np.minimum(gain, 1.0)
    closed = _closure_frames(phones, shapes, num_frames) | (silent & (open_ < 0.02))
    open_ = np.where(closed, 0.0, open_)
    return MouthTrack(open_, p[:, 1], p[:, 2], raise_, p[:, 4], closed)


def _long_silence(silent: np.ndarray) -> np.ndarray:
    """Per frame, 0-1: how far a silence has gone back to the portrait's own lips. Pauses shorter than
    :data:`REST_AFTER_S` keep the lips closed between phrases; longer ones ease to rest and back over
    :data:`REST_RAMP_S` at each end, and a silence at the clip's start or end stays at rest there
    (a silent clip is the portrait)."""
    n = silent.size
    out = np.zeros(n)
    ramp = max(REST_RAMP_S * FPS, 1.0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], silent.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):  # each silent run [start, end)
        if end - start < REST_AFTER_S * FPS:
            continue
        k = np.arange(start, end, dtype=np.float64)
        d_start = np.inf if start == 0 else k - start + 1
        d_end = np.inf if end == n else end - k
        out[start:end] = np.clip(np.minimum(d_start, d_end) / ramp, 0.0, 1.0)
    return out


def inter_ocular(lm: np.ndarray) -> float:
    """Distance between the eye centres (pixels) of landmarks [68,2]."""
    lm = np.asarray(lm, np.float64)
    return float(np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)))


UPPER_OUTER, LOWER_OUTER = [49, 50, 51, 52, 53], [55, 56, 57, 58, 59]
UPPER_INNER, LOWER_INNER = [61, 62, 63], [67, 66, 65]
CORNERS = [48, 54, 60, 64]


def inner_gap(lm: np.ndarray) -> np.ndarray:
    """Mean inner-lip gap (pixels) of landmarks [...,68,2]."""
    lm = np.asarray(lm, np.float64)
    return (lm[..., LOWER_INNER, 1] - lm[..., UPPER_INNER, 1]).mean(-1)


def corner_width(track: MouthTrack, narrowing: float | None = None) -> np.ndarray:
    """Per-frame mouth-width multiplier [T]: the viseme width, narrowed further by lip rounding
    (``narrowing`` at full rounding; None: :data:`ROUND_NARROWING`)."""
    return track.width * (1.0 - (ROUND_NARROWING if narrowing is None else narrowing) * track.round)


def apply_mouth(src_lm: np.ndarray, track: MouthTrack) -> np.ndarray:
    """Driven landmarks [T,68,2] (crop pixels, float64): ``src_lm`` [68,2] with the lips and jaw
    moved to each frame's mouth shape (in crop axes; the crop is upright by construction)."""
    src = np.asarray(src_lm, np.float64)
    iod = inter_ocular(src)
    n = len(track)
    out = np.repeat(src[None], n, axis=0)
    g0 = max(float(inner_gap(src)), 0.0)
    gap = track.open * iod
    dy_up = -0.12 * np.maximum(gap - g0, 0.0) - track.raise_ * iod
    dy_lo = gap - g0 + dy_up
    cx = src[48:68, 0].mean()
    w = corner_width(track)
    mouth = list(range(48, 68))
    out[:, mouth, 0] = cx + w[:, None] * (src[mouth, 0] - cx)
    out[:, UPPER_OUTER + UPPER_INNER, 1] += dy_up[:, None]
    out[:, LOWER_OUTER + LOWER_INNER, 1] += dy_lo[:, None]
    out[:, CORNERS, 1] += (0.5 * dy_lo + 0.5 * dy_up)[:, None]  # what the two lip keypoints give
    pout = 0.035 * iod * track.round
    out[:, UPPER_OUTER, 1] -= pout[:, None]
    out[:, LOWER_OUTER, 1] += pout[:, None]
    tuck = 0.05 * iod * track.tuck  # F/V: the lower lip rolls up under the upper teeth
    out[:, LOWER_OUTER, 1] -= tuck[:, None]
    _move_jaw(src, out, dy_lo)
    return out


def _move_jaw(src: np.ndarray, out: np.ndarray, dy_lo: np.ndarray) -> None:
    """The jaw follows the lower lip: the chin fully, the jaw line fading out toward the ears."""
    drop = 0.85 * dy_lo
    chin_y = src[8, 1]
    for side in (range(0, 6), range(11, 17)):
        ix = list(side)
        top = min(src[0, 1], src[16, 1])
        f = np.clip((src[ix, 1] - top) / max(chin_y - top, 1e-6), 0.0, 1.0) ** 1.5
        out[:, ix, 1] += drop[:, None] * f[None, :]
    out[:, 6:11, 1] += drop[:, None]
