"""Small helpers shared by the prepare stages (and the engines, which extend sequences alike)."""

from __future__ import annotations

import numpy as np


def extend_ping_pong(x: np.ndarray, num_frames: int) -> np.ndarray:
    """``x`` [N,...] forward, then backward, ... (reference tiling) cut to ``num_frames`` rows."""
    x = np.asarray(x)
    if len(x) == 0:
        raise ValueError("extend_ping_pong needs at least one row")
    if len(x) >= num_frames:
        return x[:num_frames].copy()
    cycle = np.concatenate([x, x[::-1]], axis=0)
    reps = int(np.ceil(num_frames / len(cycle)))
    return np.concatenate([cycle] * reps, axis=0)[:num_frames].copy()
