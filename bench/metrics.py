"""Quality metrics for generated talking faces (numpy and OpenCV only).

Everything here compares a generated sequence with the real one in the same 256x256 crop:

* :func:`ssim` / :func:`psnr`: image quality as in the EAMM paper (Wang et al. 2004 SSIM with an
  11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03; PSNR in dB, ``inf`` for identical images);
* :func:`lmd`: landmark distance (Chen et al. 2019): mean Euclidean distance in pixels between
  corresponding landmarks, over points and frames; M-LMD uses :data:`MOUTH` (48-67), F-LMD all 68;
* :func:`mouth_opening` and :func:`lag_correlation`: lip sync as the correlation of mouth-opening
  curves and the lag (frames) at the peak of their normalised cross-correlation; :func:`mouth_width`;
* :func:`upper_face_displacements` / :func:`emotion_transfer`: how well the upper-face motion
  (brows and eyes, relative to a reference frame, head motion removed) follows the real one;
* :func:`jitter` / :func:`jitter_ratio`: temporal stability as mean landmark acceleration;
* :func:`shape_drift`: how far a sequence's landmark shape moves from a reference shape.

Landmarks are float ``[..., 68, 2]`` crop pixels in iBUG 300-W order.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: outer and inner lips
MOUTH = np.arange(48, 68)
#: every landmark
FACE = np.arange(68)
#: brows and eyes: what an emotion moves in the upper face
UPPER_FACE = np.concatenate([np.arange(17, 27), np.arange(36, 48)])
#: points that expressions hardly move (eye corners, nose bridge): used to remove head motion
STABLE = np.array([27, 28, 29, 30, 36, 39, 42, 45])
#: inner-lip pairs (upper, lower) whose vertical gap is the mouth opening
_INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))


# ----------------------------------------------------------------------------------------------
# image metrics


def _as_float_image(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"expected an image [H,W] or [H,W,C], got shape {np.shape(img)}")
    return arr


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, sigma: float = 1.5) -> float:
    """Mean structural similarity of two images ([H,W] or [H,W,C], same shape), channels averaged.

    Gaussian-weighted local statistics (sigma 1.5, truncated at 3.5 sigma = 11x11 window, reflected
    borders), population covariances, C1 = (0.01 L)^2, C2 = (0.03 L)^2; the mean is taken over the
    pixels whose window lies inside the image (a border of 5 px is left out), as Wang et al. 2004.
    """
    x, y = _as_float_image(a), _as_float_image(b)
    if x.shape != y.shape:
        raise ValueError(f"ssim needs images of the same shape, got {x.shape} and {y.shape}")
    truncate = 3.5
    pad = int(truncate * sigma + 0.5)
    if min(x.shape[:2]) <= 2 * pad:
        raise ValueError(f"ssim needs images larger than {2 * pad + 1} px, got {x.shape[:2]}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        # separable Gaussian of radius ``pad`` with mirrored borders (scipy's "reflect" = cv2's REFLECT)
        return cv2.GaussianBlur(z, (2 * pad + 1, 2 * pad + 1), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)

    if x.shape[2] > 4:
        raise ValueError(f"ssim handles up to 4 channels, got {x.shape[2]}")
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * cxy + c2)
    den = (mx * mx + my * my + c1) * (vx + vy + c2)
    smap = (num / den).reshape(x.shape)  # cv2 drops a trailing channel axis of size 1
    return float(smap[pad:-pad, pad:-pad].mean())


def psnr(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels; ``inf`` when identical."""
    x, y = _as_float_image(a), _as_float_image(b)
    if x.shape != y.shape:
        raise ValueError(f"psnr needs images of the same shape, got {x.shape} and {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range * data_range / mse))


# ----------------------------------------------------------------------------------------------
# landmark metrics


def _landmarks(lm: np.ndarray) -> np.ndarray:
    arr = np.asarray(lm, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (68, 2):
        raise ValueError(f"expected landmarks [T,68,2] or [68,2], got shape {np.shape(lm)}")
    return arr


def lmd(generated: np.ndarray, real: np.ndarray, points: np.ndarray = FACE) -> float:
    """Landmark distance: mean Euclidean distance (px) over ``points`` and frames.

    ``generated`` and ``real`` are [T,68,2] (or [68,2]); frames are paired by index.
    """
    g, r = _landmarks(generated), _landmarks(real)
    if g.shape != r.shape:
        raise ValueError(f"lmd needs landmark sequences of the same length, got {g.shape} and {r.shape}")
    return float(np.linalg.norm(g[:, points] - r[:, points], axis=-1).mean())


def mouth_opening(lm: np.ndarray) -> np.ndarray:
    """Per-frame mouth opening in px: mean vertical gap between the inner upper and lower lips.

    [T,68,2] -> [T] float64. Closed lips give ~0; the value does not go below zero.
    """
    arr = _landmarks(lm)
    gaps = [arr[:, lo, 1] - arr[:, up, 1] for up, lo in _INNER_LIP_PAIRS]
    return np.maximum(np.mean(gaps, axis=0), 0.0)


def _is_constant(x: np.ndarray) -> bool:
    """True when a series does not vary beyond float round-off of its own magnitude."""
    return x.size == 0 or float(np.ptp(x)) <= 1e-9 * max(1.0, float(np.abs(x).max()))


def mouth_width(lm: np.ndarray) -> np.ndarray:
    """Per-frame mouth width in px: distance between the mouth corners 48 and 54. [T,68,2] -> [T]."""
    arr = _landmarks(lm)
    return np.linalg.norm(arr[:, 54] - arr[:, 48], axis=-1)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-length series; ``nan`` when either is constant."""
    x = np.asarray(a, np.float64).ravel()
    y = np.asarray(b, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"pearson needs series of the same length, got {x.shape} and {y.shape}")
    if _is_constant(x) or _is_constant(y):
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den)


@dataclass(frozen=True)
class LagCorrelation:
    """``corr``: correlation at lag 0; ``lag``: the lag (frames) at the peak correlation;
    ``peak``: the correlation there. A positive lag means the generated curve is late: generated
    frame ``t + lag`` matches real frame ``t``."""

    corr: float
    lag: int
    peak: float


def lag_correlation(generated: np.ndarray, real: np.ndarray, max_lag: int = 8) -> LagCorrelation:
    """Correlation of two curves at lag 0 and at the lag in [-max_lag, max_lag] where it peaks
    (Pearson over the overlapping part at each lag, so every lag is normalised the same way)."""
    g = np.asarray(generated, np.float64).ravel()
    r = np.asarray(real, np.float64).ravel()
    if g.shape != r.shape:
        raise ValueError(f"lag_correlation needs curves of the same length, got {g.shape} and {r.shape}")
    n = len(g)
    best_lag, best = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        if n - abs(lag) < 3:
            continue
        c = pearson(g[lag:], r[: n - lag]) if lag >= 0 else pearson(g[: n + lag], r[-lag:])
        if np.isfinite(c) and (c > best or (c == best and abs(lag) < abs(best_lag))):
            best_lag, best = lag, c
    peak = float(best) if np.isfinite(best) else float("nan")
    return LagCorrelation(corr=pearson(g, r), lag=int(best_lag), peak=peak)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity (2x2 linear part, translation) taking ``src`` points onto ``dst``."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(d0.T @ s0)
    sign = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rot = u @ sign @ vt
    var = (s0 ** 2).sum()
    scale = float(np.trace(np.diag(sig) @ sign) / var) if var > 0 else 1.0
    lin = scale * rot
    return lin, mu_d - lin @ mu_s


def align_to(lm: np.ndarray, reference: np.ndarray, points: np.ndarray = STABLE) -> np.ndarray:
    """Each frame of ``lm`` [T,68,2] moved by the similarity that best fits its ``points`` onto the
    reference's (removes head translation, roll and scale). Returns [T,68,2] float64."""
    arr, ref = _landmarks(lm), np.asarray(reference, np.float64).reshape(68, 2)
    out = np.empty_like(arr)
    for t, frame in enumerate(arr):
        lin, off = _similarity(frame[points], ref[points])
        out[t] = frame @ lin.T + off
    return out


def upper_face_displacements(lm: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Brow and eye landmark displacements from ``reference`` [68,2], head motion removed:
    [T,68,2] -> [T,len(UPPER_FACE),2] px."""
    ref = np.asarray(reference, np.float64).reshape(68, 2)
    return align_to(lm, ref)[:, UPPER_FACE] - ref[UPPER_FACE]


def emotion_transfer(generated: np.ndarray, real: np.ndarray, gen_reference: np.ndarray,
                     real_reference: np.ndarray) -> float:
    """Correlation between the upper-face displacements of the output (from its reference, the
    source) and of the real frames (from theirs): Pearson over all frames, points and axes."""
    dg = upper_face_displacements(generated, gen_reference)
    dr = upper_face_displacements(real, real_reference)
    if dg.shape != dr.shape:
        raise ValueError(f"emotion_transfer needs sequences of the same length, got {dg.shape} and {dr.shape}")
    return pearson(dg, dr)


def jitter(lm: np.ndarray) -> float:
    """Mean landmark acceleration (px / frame^2): mean norm of the second difference over frames
    and points; 0 for motion at constant velocity."""
    arr = _landmarks(lm)
    if len(arr) < 3:
        raise ValueError(f"jitter needs at least 3 frames, got {len(arr)}")
    acc = arr[2:] - 2.0 * arr[1:-1] + arr[:-2]
    return float(np.linalg.norm(acc, axis=-1).mean())


def jitter_ratio(generated: np.ndarray, real: np.ndarray) -> float:
    """:func:`jitter` of the output over the real clip's (1.0 = as steady as real)."""
    ref = jitter(real)
    return float(jitter(generated) / ref) if ref > 0 else float("inf")


@dataclass(frozen=True)
class Drift:
    """Landmark shape drift from a reference (px, head motion removed): ``start`` over the first
    second, ``end`` over the last second, ``max`` the worst single frame."""

    start: float
    end: float
    max: float


def shape_drift(lm: np.ndarray, reference: np.ndarray, fps: float = 25.0) -> Drift:
    """How far the landmark shape of ``lm`` [T,68,2] moves from ``reference`` [68,2] over time,
    after removing head motion (similarity on the stable points)."""
    ref = np.asarray(reference, np.float64).reshape(68, 2)
    per_frame = np.linalg.norm(align_to(lm, ref) - ref, axis=-1).mean(axis=1)
    win = max(1, min(len(per_frame), int(round(fps))))
    return Drift(start=float(per_frame[:win].mean()), end=float(per_frame[-win:].mean()),
                 max=float(per_frame.max()))
