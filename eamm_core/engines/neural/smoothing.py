"""One-Euro smoothing of keypoint sequences with the reference demo's parameters.

The demo filters scaled tensors element-wise at ``freq = 100``, ``dcutoff = 1``: audio keypoints ×10
(mincutoff 0.05, beta 8) and emotion displacements ×100 (mincutoff 1, beta 0.2), then scales back.
The first sample passes through unchanged.
"""

from __future__ import annotations

import math

import numpy as np

from eamm_core.types import Keypoints

AUDIO_KP = (10.0, 0.05, 8.0)  # scale, mincutoff, beta
EMOTION = (100.0, 1.0, 0.2)


def _alpha(cutoff: np.ndarray | float, freq: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau * freq)


def one_euro_filter(x: np.ndarray, mincutoff: float, beta: float, dcutoff: float = 1.0,
                    freq: float = 100.0) -> np.ndarray:
    """Filter ``x`` [T,...] along axis 0, element-wise (Casiez et al. 2012; derivative taken against
    the previous filtered sample, as in the authors' ``filter1.py``)."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    out[0] = x[0]
    dx_hat = np.zeros_like(x[0])
    a_d = _alpha(dcutoff, freq)
    for t in range(1, len(x)):
        dx = (x[t] - out[t - 1]) * freq
        dx_hat = a_d * dx + (1.0 - a_d) * dx_hat
        a = _alpha(mincutoff + beta * np.abs(dx_hat), freq)
        out[t] = a * x[t] + (1.0 - a) * out[t - 1]
    return out


def smooth_keypoints(kp: Keypoints, params: tuple[float, float, float]) -> Keypoints:
    """Smooth value and jacobian of ``kp`` with (scale, mincutoff, beta) in the scaled domain."""
    scale, mincutoff, beta = params
    value = one_euro_filter(kp.value * scale, mincutoff, beta) / scale
    jac = one_euro_filter(kp.jacobian * scale, mincutoff, beta) / scale
    return Keypoints(value.astype(np.float32), jac.astype(np.float32))
