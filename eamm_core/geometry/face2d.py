"""The 68-point alignment template and least-squares 2D similarity fitting.

Shared by face alignment (:mod:`eamm_core.prepare.faces`), the 3D mean face
(:mod:`eamm_core.geometry.head3d`) and the landmark engine's emotion measurement, so they all agree
on one template and one transform convention: a transform is a 3x3 float64 matrix ``M`` mapping
homogeneous source pixels to destination pixels (``dst = M @ [x, y, 1]``).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from eamm_core.errors import EammError


@lru_cache(maxsize=1)
def _template() -> np.ndarray:
    text = resources.files("eamm_core.data").joinpath("template_68.csv").read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    tpl = np.asarray(rows, dtype=np.float32)
    if tpl.shape != (68, 2):
        raise EammError(f"the packaged face template has shape {tpl.shape}, expected (68, 2): reinstall eamm")
    tpl.setflags(write=False)
    return tpl


def load_template() -> np.ndarray:
    """The 68-point alignment template in 256x256 crop pixels, float32 ``[68,2]`` (a fresh copy)."""
    return _template().copy()


def similarity_transform(src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping
    ``src_pts`` onto ``dst_pts`` (Umeyama 1991). Returns a 3x3 float64 matrix."""
    src = np.asarray(src_pts, np.float64).reshape(-1, 2)
    dst = np.asarray(dst_pts, np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"similarity_transform needs matching point sets of >= 2 points, got {src.shape}, {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    var_s = (s0 ** 2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var_s) if var_s > 0 else 1.0
    m = np.eye(3)
    m[:2, :2] = scale * rot
    m[:2, 2] = mu_d - scale * rot @ mu_s
    return m
