"""Pieces of ``bench/quality.py`` that are worth testing on their own.

* :func:`crop_clip`: the real clip's frames at 25 fps (by time), each warped into the 256x256 crop
  with ONE similarity (the source portrait's ``crop_from_source``), so the real head keeps its own
  motion inside the crop, exactly as a generated frame does;
* :func:`crop_landmarks`: 68 landmarks detected in each 256 crop (generated or real) the same way;
* :func:`evaluate`: every metric of one generated sequence against the real one;
* :func:`silent_wav`, :func:`side_by_side`: the bench's inputs and outputs.
"""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import metrics as M
import numpy as np
from identity import FaceEmbedder, identity_distances

from eamm_core.prepare.faces import FaceLandmarker, warp_to_crop
from eamm_core.prepare.video import iter_frames


def crop_clip(path: Path, crop_from_source: np.ndarray, max_frames: int | None = None,
              fps: float = 25.0) -> np.ndarray:
    """The clip's frames at ``fps`` (resampled by time) warped with one fixed 3x3 similarity into
    the 256 crop: uint8 [T,256,256,3]."""
    crops = [warp_to_crop(rgb, crop_from_source) for _, rgb in iter_frames(path, fps, max_frames)]
    return np.stack(crops)


def crop_landmarks(frames: Iterable[np.ndarray], landmarker: FaceLandmarker | None = None,
                   fallback_box: Sequence[int] | None = None) -> np.ndarray:
    """68 landmarks [T,68,2] float64 of the largest face in each crop. A frame where the detector
    finds nothing reuses the previous frame's box (or ``fallback_box``); NaN if there is none."""
    lmk = landmarker or FaceLandmarker.shared()
    box = tuple(fallback_box) if fallback_box is not None else None
    out = []
    for frame in frames:
        # the face fills ~60% of a 256 crop: no upsampling needed; upsample 1 only as a second try
        faces = lmk.detect(frame, upsample=0) or lmk.detect(frame, upsample=1)
        if faces:
            box = faces[0].box
            out.append(faces[0].landmarks.astype(np.float64))
        elif box is not None:
            out.append(lmk.landmarks(frame, box).astype(np.float64))
        else:
            out.append(np.full((68, 2), np.nan))
    return np.stack(out)


@dataclass(frozen=True)
class Scores:
    """One generated sequence against the real clip (see docs/quality.md for definitions)."""

    frames: int
    ssim: float
    psnr: float
    m_lmd: float
    f_lmd: float
    lip_corr: float
    lip_lag: int
    lip_peak: float
    open_ratio: float
    width_ratio: float
    emotion_corr: float
    jitter_ratio: float
    id_mean: float
    id_worst: float
    missing_faces: int


def _finite_psnr_mean(values: list[float]) -> float:
    """Mean PSNR over the frames that differ from the real one (an identical frame, e.g. the source
    frame in the still baseline, has infinite PSNR and is left out); ``inf`` if every frame is equal."""
    arr = np.asarray(values, np.float64)
    finite = arr[np.isfinite(arr)]
    return float(finite.mean()) if finite.size else float("inf")


def _corr_or_zero(c: float, generated: np.ndarray) -> float:
    """A generated curve that does not move at all has zero covariance with the real one: 0, not NaN."""
    g = np.asarray(generated, np.float64)
    return 0.0 if np.isnan(c) and float(np.ptp(g)) <= 1e-9 * max(1.0, float(np.abs(g).max())) else c


def evaluate(gen: np.ndarray, gen_lm: np.ndarray, real: np.ndarray, real_lm: np.ndarray,
             src_image: np.ndarray, src_lm: np.ndarray, real_ref_lm: np.ndarray,
             embedder: FaceEmbedder | None) -> Scores:
    """All metrics of ``gen`` [T,256,256,3] (landmarks ``gen_lm`` [T,68,2]) against ``real``.
    Frames where either landmark set is missing (NaN) are left out of the landmark metrics."""
    t = min(len(gen), len(real))
    gen, gen_lm, real, real_lm = gen[:t], gen_lm[:t], real[:t], real_lm[:t]
    ok = np.isfinite(gen_lm).all(axis=(1, 2)) & np.isfinite(real_lm).all(axis=(1, 2))
    g, r = gen_lm[ok], real_lm[ok]
    g_open, r_open = M.mouth_opening(g), M.mouth_opening(r)
    lag = M.lag_correlation(g_open, r_open)
    g_upper = M.upper_face_displacements(g, src_lm)
    ident = (None if embedder is None else
             identity_distances(embedder, embedder.embed(src_image, src_lm), gen, list(gen_lm)))
    return Scores(
        frames=t,
        ssim=float(np.mean([M.ssim(a, b) for a, b in zip(gen, real)])),
        psnr=_finite_psnr_mean([M.psnr(a, b) for a, b in zip(gen, real)]),
        m_lmd=M.lmd(g, r, M.MOUTH), f_lmd=M.lmd(g, r, M.FACE),
        lip_corr=_corr_or_zero(lag.corr, g_open), lip_lag=lag.lag, lip_peak=_corr_or_zero(lag.peak, g_open),
        open_ratio=float(g_open.mean() / max(r_open.mean(), 1e-9)),
        width_ratio=float(M.mouth_width(g).mean() / M.mouth_width(r).mean()),
        emotion_corr=_corr_or_zero(M.emotion_transfer(g, r, src_lm, real_ref_lm), g_upper),
        jitter_ratio=M.jitter_ratio(g, r),
        id_mean=float("nan") if ident is None else ident.mean,
        id_worst=float("nan") if ident is None else ident.worst,
        missing_faces=int((~ok).sum()) + (0 if ident is None else ident.missing),
    )


def silent_wav(path: Path, seconds: float, sample_rate: int = 16000, level: float = 3e-4,
               seed: int = 0) -> Path:
    """A 16-bit mono WAV of near-silence: room tone at about -70 dBFS (digital zero is refused by
    the audio loader as "silent", which is right for a job but not what this test needs)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    pcm = np.clip(rng.normal(0.0, level / 3.0, n), -level, level)
    pcm[0] = level  # make sure the peak is above the loader's silence threshold
    data = (pcm * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(sample_rate)
        wf.writeframes(data.tobytes())
    return path


def side_by_side(real: np.ndarray, gen: np.ndarray, out_mp4: Path, audio_source: Path | None,
                 fps: float = 25.0, gain: float = 3.0) -> Path:
    """real | generated | |difference| x gain, one row per frame, H.264 MP4 with the clip's audio."""
    import imageio.v2 as imageio
    import imageio_ffmpeg

    t = min(len(real), len(gen))
    out_mp4 = Path(out_mp4)
    silent = out_mp4.with_suffix(".noaudio.mp4")
    writer = imageio.get_writer(str(silent), fps=fps, codec="libx264", quality=8, macro_block_size=1,
                                ffmpeg_log_level="error", pixelformat="yuv420p")
    try:
        for a, b in zip(real[:t], gen[:t]):
            diff = np.clip(np.abs(a.astype(np.int16) - b.astype(np.int16)) * gain, 0, 255).astype(np.uint8)
            row = np.concatenate([a, b, diff], axis=1)
            for x in (256, 512):
                row[:, x - 1:x + 1] = 255
            writer.append_data(row)
    finally:
        writer.close()
    if audio_source is None:
        silent.replace(out_mp4)
        return out_mp4
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-i", str(silent), "-i", str(audio_source), "-map", "0:v:0", "-map", "1:a:0?",
           "-c:v", "copy", "-c:a", "aac", "-shortest", str(out_mp4)]
    subprocess.run(cmd, check=True, capture_output=True)
    silent.unlink(missing_ok=True)
    return out_mp4


def mean_scores(rows: list[Scores]) -> Scores:
    """Field-wise mean over clips (lags rounded; missing faces summed)."""
    def avg(name: str) -> float:
        return float(np.nanmean([getattr(r, name) for r in rows]))

    return Scores(frames=sum(r.frames for r in rows), ssim=avg("ssim"), psnr=avg("psnr"), m_lmd=avg("m_lmd"),
                  f_lmd=avg("f_lmd"), lip_corr=avg("lip_corr"), lip_lag=int(round(avg("lip_lag"))),
                  lip_peak=avg("lip_peak"), open_ratio=avg("open_ratio"), width_ratio=avg("width_ratio"),
                  emotion_corr=avg("emotion_corr"),
                  jitter_ratio=avg("jitter_ratio"), id_mean=avg("id_mean"), id_worst=max(r.id_worst for r in rows),
                  missing_faces=sum(r.missing_faces for r in rows))


# --- the open mouth ----------------------------------------------------------------------------

#: a frame counts as open-mouthed when the inner lips part by this fraction of the mouth's width
OPEN_GAP = 0.12
#: teeth pixels: inside the inner lips, L* at least this and within TEETH_SPAN of the mouth's brightest
TEETH_MIN_L, TEETH_SPAN = 35.0, 18.0


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L 0-100, a/b signed) of uint8 RGB pixels of any shape [...,3]."""
    flat = np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(np.shape(rgb))


def polygon_mask(points: np.ndarray, shape=(256, 256)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(points)).astype(np.int32)], 1)
    return mask.astype(bool)


def inner_gap(lm: np.ndarray) -> float:
    """Inner-lip opening (61-67, 62-66, 63-65) over the mouth's width (48-54)."""
    lm = np.asarray(lm, np.float64)
    gap = np.mean([np.linalg.norm(lm[a] - lm[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    return float(gap / max(np.linalg.norm(lm[54] - lm[48]), 1e-6))


def teeth_lab(frame: np.ndarray, lm: np.ndarray, min_pixels: int = 6) -> np.ndarray | None:
    """Median CIELAB of the teeth (the bright pixels inside the inner-lip polygon), None if none show."""
    px = lab(frame[polygon_mask(lm[60:68], frame.shape[:2])])
    if len(px) < min_pixels:
        return None
    keep = px[:, 0] >= max(TEETH_MIN_L, float(np.percentile(px[:, 0], 95)) - TEETH_SPAN)
    return np.median(px[keep], axis=0) if keep.sum() >= min_pixels else None


def sclera_lab(image: np.ndarray, lm: np.ndarray, min_pixels: int = 8) -> np.ndarray | None:
    """Median CIELAB of the eye whites: the brightest quarter of both eye polygons (36-41, 42-47)."""
    mask = polygon_mask(lm[36:42], image.shape[:2]) | polygon_mask(lm[42:48], image.shape[:2])
    px = lab(image[mask])
    if len(px) < min_pixels:
        return None
    return np.median(px[px[:, 0] >= np.percentile(px[:, 0], 75)], axis=0)


def masked_ssim_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray, sigma: float = 1.5) -> tuple[float, float]:
    """SSIM (the map of :func:`metrics.ssim`, channels averaged) and PSNR over ``mask``."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = 2 * int(3.5 * sigma + 0.5) + 1

    def blur(z):
        return cv2.GaussianBlur(z, (k, k), sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    mse = float(np.mean((x[mask] - y[mask]) ** 2))
    return float(smap[mask].mean()), (float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse))


@dataclass(frozen=True)
class MouthScores:
    """Open-mouth frames only: teeth colour of the output against the real speaker's teeth (median
    over frames where both show teeth) and SSIM/PSNR inside the real inner-lip polygon."""

    open_frames: int
    teeth_frames: int
    teeth_delta_e: float
    teeth_chroma: float
    ssim: float
    psnr: float


def mouth_scores(gen: np.ndarray, gen_lm: np.ndarray, real: np.ndarray, real_lm: np.ndarray) -> MouthScores:
    """:class:`MouthScores` of ``gen`` against ``real`` (frames with landmarks on both sides)."""
    de, dc, ss, ps, n_open = [], [], [], [], 0
    for t in range(min(len(gen), len(real))):
        if not (np.isfinite(real_lm[t]).all() and np.isfinite(gen_lm[t]).all()) or inner_gap(real_lm[t]) < OPEN_GAP:
            continue
        n_open += 1
        s, p = masked_ssim_psnr(gen[t], real[t], polygon_mask(real_lm[t][60:68], real[t].shape[:2]))
        ss.append(s)
        ps.append(p)
        g, r = teeth_lab(gen[t], gen_lm[t]), teeth_lab(real[t], real_lm[t])
        if g is not None and r is not None:
            de.append(float(np.linalg.norm(g - r)))
            dc.append(float(np.linalg.norm(g[1:] - r[1:])))
    med = (lambda v: float(np.median(v)) if v else float("nan"))
    return MouthScores(open_frames=n_open, teeth_frames=len(de), teeth_delta_e=med(de), teeth_chroma=med(dc),
                       ssim=float(np.mean(ss)) if ss else float("nan"),
                       psnr=_finite_psnr_mean(ps) if ps else float("nan"))
