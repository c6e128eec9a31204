"""Seeded blinks: when, and how far the lids close on each frame.

People blink about 15-20 times a minute at irregular intervals; one blink takes 150-250 ms. Here
the gaps between blinks are 1.5 s plus a gamma-distributed part (mean gap about 3.6 s, about 17 a
minute), drawn from ``numpy.random.default_rng(seed)``, so one seed gives one blink pattern.
"""

from __future__ import annotations

import numpy as np

FPS = 25.0
#: lid closure (0 open, 1 shut) over the frames of one blink at 25 fps
PROFILE = np.array([0.45, 0.95, 1.0, 0.6, 0.25])
MIN_GAP_S = 1.5
GAMMA_SHAPE, GAMMA_SCALE = 2.0, 1.05
FIRST_RANGE_S = (0.6, 2.6)
#: how far a closed eye squashes toward its centre line (1 would be a line)
MAX_SQUASH = 0.88


def blink_curve(num_frames: int, seed: int, enabled: bool = True) -> np.ndarray:
    """Lid closure per frame, float64 [T] in [0,1]."""
    closure = np.zeros(num_frames)
    if not enabled or num_frames <= 0:
        return closure
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xB11])
    t = rng.uniform(*FIRST_RANGE_S)
    while t * FPS < num_frames:
        start = int(round(t * FPS))
        for k, c in enumerate(PROFILE):
            if start + k < num_frames:
                closure[start + k] = max(closure[start + k], c)
        t += MIN_GAP_S + rng.gamma(GAMMA_SHAPE, GAMMA_SCALE)
    return closure


def apply_blinks(lm: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """Squash each eye of landmarks [T,68,2] vertically toward its own centre line by
    ``MAX_SQUASH * closure[t]`` (lids meet; the renderer fills the closed lid)."""
    out = np.array(lm, np.float64, copy=True)
    k = 1.0 - MAX_SQUASH * np.asarray(closure, np.float64)[:, None]
    for eye in (slice(36, 42), slice(42, 48)):
        cy = out[:, eye, 1].mean(1, keepdims=True)
        out[:, eye, 1] = cy + k * (out[:, eye, 1] - cy)
    return out
