"""Small statistics the renderer's per-portrait setup needs, without numpy's lazy imports.

``np.median`` imports ``numpy.ma`` on its first call (start-up time a strength-only rerun
otherwise never spends); :func:`median_axis0` gives the same numbers from a sort.
"""

from __future__ import annotations

import numpy as np

#: numpy 1.x returns float64 percentiles of float32 values (the weights are float64 arrays and
#: value-based casting promotes); numpy 2 keeps float32
_PERCENTILE_WIDENS = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def median_axis0(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=0)`` bit for bit (same dtype rules: float64 for integer input)
    for finite ``values`` with at least one row."""
    rows = np.sort(np.asarray(values), axis=0)
    n = rows.shape[0]
    if n == 0:
        raise ValueError("median of an empty array")
    dtype = np.float64 if not np.issubdtype(rows.dtype, np.floating) else rows.dtype
    if n % 2:
        return rows[n // 2].astype(dtype)
    return (rows[n // 2 - 1].astype(dtype) + rows[n // 2].astype(dtype)) / 2


def percentile_axis0(values: np.ndarray, q: float) -> np.ndarray:
    """``np.percentile(values, q, axis=0)`` (default "linear" method, ``q`` a Python number, as
    numpy computes it: the same bits) for finite floating-point ``values`` with at least one row;
    a 1-D ``values`` gives a scalar. Like :func:`median_axis0`, it spares the ``numpy.ma`` import."""
    rows = np.sort(np.asarray(values), axis=0)
    n = rows.shape[0]
    if n == 0:
        raise ValueError("percentile of an empty array")
    if not np.issubdtype(rows.dtype, np.floating):
        raise TypeError(f"percentile_axis0 takes floating-point values, got {rows.dtype}")
    quantile = np.true_divide(q, 100)
    virtual = (n - 1) * quantile  # numpy's "linear" method
    wide = (lambda a: np.asarray(a, np.float64)) if _PERCENTILE_WIDENS else (lambda a: a)
    if virtual >= n - 1:
        return wide(rows[n - 1])
    if virtual < 0:
        return wide(rows[0])
    below = np.floor(virtual)
    i = int(below)
    gamma = float(virtual - below)
    low, high = rows[i], rows[i + 1]
    diff = wide(high - low)  # the difference in the values' own precision, as numpy's lerp
    return wide(high) - diff * (1 - gamma) if gamma >= 0.5 else wide(low) + diff * gamma
