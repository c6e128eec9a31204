"""The mouth interior's colours and finish, estimated once per portrait from the picture itself.

* **White point and tint**: the teeth take the colour of the portrait's eye whites (CIELAB a*, b*
  of the brightest quarter of both eye polygons), a little warmer in a colourful picture (real
  teeth sit a few units warmer than the sclera) and exactly grey in a grey one. Where no sclera can
  be seen (eyes closed or narrow, sunglasses, eyes darker than the skin's shadows) the tint falls
  back to a fraction of the skin's own (a*, b*), so a graded or black-and-white picture still
  gives teeth in its own grade.
* **Brightness**: the brightest eye whites or a little under the skin's highlights, whichever is
  brighter (teeth sit in the mouth's shade).
* **Cavity and tongue**: the lips' own colour (L*, a*, b*) darkened toward the throat: a painting
  keeps its palette and a black-and-white photo stays grey.
* **Grain and sharpness**: the picture's noise level (robust spread of the skin's fine residual)
  and its softness (how much a 1 px blur still changes its edges) are measured so the painted
  interior can be given the same grain (a fixed pattern: no flicker) and the same blur.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

from eamm_core.engines.landmark.stats import median_axis0, percentile_axis0

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
#: an eye counts as open enough to show its white when its height is this fraction of its width
MIN_EYE_ASPECT = 0.2
#: fallback tint: this fraction of the skin's (a*, b*) (eye whites measured on photos and graded stills
#: sit at 0.3-0.9 of the skin's chroma, in its direction)
SKIN_TINT = 0.55
#: the teeth's (a*, b*) are kept within this fraction of the skin's chroma (eye whites in small or
#: shaded eyes pick up the lids' colour)
MAX_TINT = 0.8
#: teeth are this much warmer (Δa*, Δb*) than the eye whites in a fully colourful picture
WARMER = np.array([0.5, 2.5], np.float32)
#: skin chroma at which a picture counts as fully colourful
FULL_CHROMA = 20.0
#: softness bounds (Gaussian sigma, px) and grain bounds (grey levels)
MAX_BLUR, MAX_GRAIN = 2.5, 8.0
#: the painted interior's own softness as :func:`blur_sigma` measures edges (its 1 px feathering
#: plus the Sobel filter's own spread): a picture this soft needs no extra blur
PAINT_SOFTNESS = 1.18
#: the residual after a 3x3 median keeps about this fraction of white noise's spread
MEDIAN_RESIDUAL = 0.76


@dataclass(frozen=True)
class MouthLook:
    """Per-portrait colours (float32 RGB 0-255) and finish of the painted interior."""

    teeth: np.ndarray
    cavity_deep: np.ndarray
    cavity_edge: np.ndarray
    tongue: np.ndarray
    blur_sigma: float  # px: the picture's own softness (0 = sharp)
    grain: float  # grey levels: the picture's own noise (standard deviation)
    sclera_seen: bool  # False: the tint came from the skin (fallback)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of float RGB 0-255 pixels [N,3] (or one colour [3])."""
    flat = np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(np.shape(rgb))


def from_lab(lab: np.ndarray) -> np.ndarray:
    """Float RGB 0-255 of CIELAB colour(s), clipped to the displayable range."""
    flat = np.asarray(lab, np.float32).reshape(-1, 1, 3)
    rgb = cv2.cvtColor(flat, cv2.COLOR_LAB2RGB).reshape(np.shape(lab))
    return np.clip(rgb * 255.0, 0.0, 255.0).astype(np.float32)


def polygon_pixels(image: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """RGB float32 pixels [N,3] inside ``poly``."""
    return image[polygon_mask(image.shape[:2], poly)].reshape(-1, 3).astype(np.float32)


def polygon_mask(shape, poly: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    return mask.astype(bool)


def _eye_aspect(eye: np.ndarray) -> float:
    width = float(np.linalg.norm(eye[3] - eye[0])) or 1.0
    return float(np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])) / (2.0 * width)


def sclera_lab(image: np.ndarray, lm: np.ndarray, skin_lab: np.ndarray) -> np.ndarray | None:
    """CIELAB of the eye whites (median of the brightest quarter of the open eyes' pixels), or None
    when no white shows: both eyes nearly closed, too few pixels, or the eyes' brightest quarter no
    brighter than the skin's shadows (sunglasses, eyes in deep shade)."""
    pixels = [polygon_pixels(image, lm[i:i + 6]) for i in (36, 42) if _eye_aspect(lm[i:i + 6]) >= MIN_EYE_ASPECT]
    pixels = [p for p in pixels if len(p)]
    if not pixels:
        return None
    lab = to_lab(np.vstack(pixels))
    bright = lab[lab[:, 0] >= percentile_axis0(lab[:, 0], 75)]
    if len(bright) < 8 or float(median_axis0(bright[:, 0])) < 0.5 * float(skin_lab[0]):
        return None
    return median_axis0(bright).astype(np.float32)


def teeth_colour(image: np.ndarray, lm: np.ndarray, skin_lab: np.ndarray) -> tuple[np.ndarray, bool]:
    """RGB of the teeth and whether the eye whites were seen (see the module docstring)."""
    face = polygon_pixels(image, lm[np.r_[0:17, 26:16:-1]])
    skin_hi = percentile_axis0(face, 90).astype(np.float32) if len(face) else np.full(3, 200, np.float32)
    level = 0.92 * float(skin_hi @ LUMA)
    eyes = np.vstack([polygon_pixels(image, lm[36:42]), polygon_pixels(image, lm[42:48])])
    if len(eyes) >= 8:
        lum = eyes @ LUMA
        level = max(level, float(eyes[lum >= percentile_axis0(lum, 75)].mean(0) @ LUMA))
    sclera = sclera_lab(image, lm, skin_lab)
    colourful = float(np.clip(np.hypot(*skin_lab[1:]) / FULL_CHROMA, 0.0, 1.0))
    ab = SKIN_TINT * skin_lab[1:] if sclera is None else sclera[1:]
    limit = MAX_TINT * float(np.hypot(*skin_lab[1:])) + 2.0
    ab = ab * min(1.0, limit / max(float(np.hypot(*ab)), 1e-6)) + colourful * WARMER
    light = float(to_lab(np.full(3, level, np.float32))[0])
    return _with_luma(np.array([light, ab[0], ab[1]], np.float32), level), sclera is not None


def _with_luma(lab: np.ndarray, level: float) -> np.ndarray:
    """RGB of CIELAB ``lab`` rescaled so its luma is ``level`` (keeps the tint, fixes brightness)."""
    rgb = from_lab(lab)
    return np.clip(rgb * (level / max(float(rgb @ LUMA), 1.0)), 0, 255).astype(np.float32)


def _lip_shades(lips_lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deep cavity, cavity edge (the lips' shadow) and tongue, all in the lips' own hue."""
    lab = np.asarray(lips_lab, np.float32)

    def shade(l_scale: float, ab_scale: float) -> np.ndarray:
        return from_lab(np.array([lab[0] * l_scale, lab[1] * ab_scale, lab[2] * ab_scale], np.float32))

    return shade(0.22, 0.6), shade(0.5, 0.9), shade(0.85, 0.85)


def grain_level(image: np.ndarray, lm: np.ndarray) -> float:
    """The picture's noise (grey levels): robust spread of the skin's residual after a 3x3 median,
    over the cheeks and forehead (the face outline less eyes, brows, nose and mouth)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    resid = grey - cv2.medianBlur(grey.astype(np.uint8), 3).astype(np.float32)
    mask = polygon_mask(image.shape, lm[np.r_[0:17, 26:16:-1]])
    for part in (lm[17:27], lm[36:42], lm[42:48], lm[27:36], lm[48:60]):
        mask &= ~polygon_mask(image.shape, cv2.convexHull(part.astype(np.float32)).reshape(-1, 2))
    values = resid[mask]
    if len(values) < 50:
        return 0.0
    mad = float(median_axis0(np.abs(values - median_axis0(values))))
    return float(np.clip(1.4826 * mad / MEDIAN_RESIDUAL, 0.0, MAX_GRAIN))


def softness(image: np.ndarray, lm: np.ndarray) -> float:
    """The picture's softness as a Gaussian sigma (px) at the face's strongest edges: a 1 px blur
    lowers the peak gradient of a step edge of softness s from 1/s to 1/sqrt(s^2 + 1), so the
    ratio q of the 98th-percentile gradients before and after gives s = 1 / sqrt(q^2 - 1)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    box = cv2.boundingRect(np.round(lm[17:68]).astype(np.int32))
    x, y, w, h = box
    patch = grey[max(y - 4, 0):y + h + 4, max(x - 4, 0):x + w + 4]
    if patch.size < 64:
        return 0.0

    def energy(z: np.ndarray) -> float:
        gx, gy = cv2.Sobel(z, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(z, cv2.CV_32F, 0, 1, ksize=3)
        return float(percentile_axis0(np.sqrt(gx * gx + gy * gy).ravel(), 98))

    q = energy(patch) / max(energy(cv2.GaussianBlur(patch, (0, 0), 1.0)), 1e-6)
    return float(np.clip(1.0 / np.sqrt(max(q * q - 1.0, 1e-6)), 0.0, 2.0 * MAX_BLUR))


def blur_sigma(image: np.ndarray, lm: np.ndarray) -> float:
    """The blur (Gaussian sigma, px) that gives the painted interior the picture's softness."""
    s = softness(image, lm)
    return float(np.clip(np.sqrt(max(s * s - PAINT_SOFTNESS ** 2, 0.0)), 0.0, MAX_BLUR))


def mouth_look(image: np.ndarray, lm: np.ndarray) -> MouthLook:
    """Everything the interior needs from the picture (the renderer's constructor calls it once)."""
    face = polygon_pixels(image, lm[np.r_[0:17, 26:16:-1]])
    skin_lab = median_axis0(to_lab(face)).astype(np.float32) if len(face) else np.array([70, 12, 16], np.float32)
    outer = polygon_pixels(image, lm[48:60])
    lips = median_axis0(outer).astype(np.float32) if len(outer) else np.array([150, 80, 80], np.float32)
    teeth, seen = teeth_colour(image, lm, skin_lab)
    deep, edge, tongue = _lip_shades(to_lab(lips))
    return MouthLook(teeth=teeth, cavity_deep=deep, cavity_edge=edge, tongue=tongue,
                     blur_sigma=blur_sigma(image, lm), grain=grain_level(image, lm), sclera_seen=seen)


def look_to_arrays(look: MouthLook, prefix: str = "look_") -> dict[str, np.ndarray]:
    """``look`` as plain arrays (for the pipeline's ``.npz`` cache); :func:`look_from_arrays` undoes it exactly."""
    return {prefix + f.name: np.asarray(getattr(look, f.name)) for f in fields(MouthLook)}


def look_from_arrays(arrays: dict[str, np.ndarray], prefix: str = "look_") -> MouthLook | None:
    """The :class:`MouthLook` :func:`look_to_arrays` stored (the same values and Python types, so
    the frames painted with it are the same bytes), or None when ``arrays`` holds none or a malformed one."""
    try:
        values = {f.name: np.asarray(arrays[prefix + f.name]) for f in fields(MouthLook)}
    except KeyError:
        return None
    colours = ("teeth", "cavity_deep", "cavity_edge", "tongue")
    if any(values[k].shape != (3,) or values[k].dtype != np.float32 for k in colours):
        return None
    if any(values[k].shape != () for k in ("blur_sigma", "grain", "sclera_seen")):
        return None
    return MouthLook(**{k: values[k].copy() for k in colours}, blur_sigma=float(values["blur_sigma"]),
                     grain=float(values["grain"]), sclera_seen=bool(values["sclera_seen"]))
