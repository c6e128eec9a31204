"""Paste a rendered frame of the crop (256x256, or any square size of the same crop's frame, e.g.
the landmark engine's full-resolution renders) back into the full-resolution portrait (any engine).

The frame is resampled into the original image through the crop's similarity transform and blended
with a feathered mask: the face's outline (jaw line, and the forehead up to the hairline) grown by
``margin`` around its centre, blurred by a Gaussian whose width is ``feather`` times the face size,
times the crop's own alpha mask (so transparent parts of an RGBA portrait stay untouched).

All per-portrait work (mask, bounding box, resampling maps) is done once by :class:`PasteBack`
and cached per crop by :func:`paste_back`; a frame then costs one ``cv2.remap`` and one blend over
the face's bounding box only, the rest of the image is a copy.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import cv2
import numpy as np

from eamm_core.errors import EammError
from eamm_core.types import PortraitCrop

SIZE = 256
#: face outline growth around its centre, and Gaussian feather (fraction of the face's size)
MARGIN = 1.12
FEATHER = 0.07
#: the feather's tail below this is cut (lowered to 0), so the blend region is finite
MIN_WEIGHT = 1.0 / 512.0
_CACHE_SIZE = 4
#: largest whole-number pre-upscale of the frame before resampling into the original
MAX_PRESCALE = 4


def face_outline(landmarks_px: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """Polygon [N,2] around the face: the jaw line and, above the brows, the forehead up to about
    the hairline; grown by ``margin`` around the face's centre."""
    lm = np.asarray(landmarks_px, np.float64)
    el, er = lm[36:42].mean(0), lm[42:48].mean(0)
    iod = float(np.hypot(*(er - el))) or 1.0
    ex = (er - el) / iod
    up = np.array([ex[1], -ex[0]])
    brows = lm[26:16:-1] + 0.9 * iod * up  # left brow to right brow, lifted to the hairline
    poly = np.vstack([lm[0:17], brows])
    centre = poly.mean(0)
    return centre + margin * (poly - centre)


def crop_weight(crop: PortraitCrop, margin: float = MARGIN, feather: float = FEATHER) -> np.ndarray:
    """The blend weight in crop pixels, float32 [256,256] in [0,1]."""
    poly = face_outline(crop.landmarks_px, margin)
    mask = np.zeros((SIZE, SIZE), np.float32)
    hull = cv2.convexHull(np.round(poly * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1.0, cv2.LINE_AA, 4)
    size = float(np.hypot(*(poly.max(0) - poly.min(0)))) / np.sqrt(2.0)
    sigma = max(feather * size, 1.0)
    # shrink by about one sigma first so the feathered edge ends near the outline
    k = int(round(sigma)) * 2 + 1
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    mask = cv2.GaussianBlur(mask, (0, 0), sigma)
    # the Gaussian's tail lowered to exactly 0 at MIN_WEIGHT: the blend box ends where the weight
    # is 0, so nothing steps at its edge
    mask = np.clip((mask - MIN_WEIGHT) / (1.0 - MIN_WEIGHT), 0.0, 1.0)
    alpha = np.clip(np.asarray(crop.mask, np.float32), 0.0, 1.0)
    if alpha.shape == mask.shape and alpha.min() < 1.0:
        # the crop's alpha is a resampled copy of the portrait's: shrink it by two crop pixels so
        # the blend never reaches into the transparent part of the full-resolution portrait
        mask *= cv2.erode(alpha, np.ones((5, 5), np.uint8))
    return mask


class PasteBack:
    """Per-portrait paste-back plan: bounding box in the original, resampling maps, blend weights."""

    def __init__(self, crop: PortraitCrop, margin: float = MARGIN, feather: float = FEATHER,
                 interpolation: int = cv2.INTER_CUBIC, size: int = SIZE):
        original = np.asarray(crop.original)
        if original.ndim != 3 or original.shape[2] != 3 or original.dtype != np.uint8:
            raise EammError(f"paste-back needs the original portrait as uint8 RGB, got {original.dtype} "
                            f"{original.shape}")
        self.original = original
        self.interpolation = interpolation
        self.size = int(size)
        weight = crop_weight(crop, margin, feather)
        m = np.asarray(crop.crop_from_source, np.float64)
        self.box = _support_box(weight, np.asarray(crop.source_from_crop, np.float64), original.shape)
        if self.box is None:
            self.maps = self.weight = None
            return
        x0, y0, x1, y1 = self.box
        xs = np.arange(x0, x1, dtype=np.float64)[None, :]
        ys = np.arange(y0, y1, dtype=np.float64)[:, None]
        mx = (m[0, 0] * xs + (m[0, 1] * ys + m[0, 2])).astype(np.float32)
        my = (m[1, 0] * xs + (m[1, 1] * ys + m[1, 2])).astype(np.float32)
        w = cv2.remap(weight, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if self.size != SIZE:  # crop coordinates -> pixels of the larger frame (centres aligned)
            k = self.size / SIZE
            mx = mx * np.float32(k) + np.float32((k - 1) / 2)
            my = my * np.float32(k) + np.float32((k - 1) / 2)
        # enlarging: the frame is first upscaled (separable cubic, cheap) by a whole factor, then
        # resampled bilinearly; nearly the look of a cubic remap at a third of its cost
        scale = SIZE / self.size / max(float(np.sqrt(abs(np.linalg.det(m[:2, :2])))), 1e-6)
        self.pre = int(np.clip(np.round(scale), 1, MAX_PRESCALE)) if interpolation != cv2.INTER_NEAREST else 1
        if self.pre > 1:
            mx += 0.5
            mx *= self.pre
            mx -= 0.5
            my += 0.5
            my *= self.pre
            my -= 0.5
        self.maps = cv2.convertMaps(mx, my, cv2.CV_16SC2)
        self.weight = np.clip(w, 0.0, 1.0).astype(np.float32)
        self.inv_weight = (1.0 - self.weight).astype(np.float32)

    def __call__(self, frame256: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The original image (uint8 [H,W,3]) with ``frame256`` (uint8 [S,S,3], S = ``self.size``) pasted in.

        ``out``: optionally an earlier result of this plan to overwrite (only the face box is
        rewritten, which saves copying the whole image for every frame of a large portrait)."""
        frame = np.asarray(frame256)
        size = self.size
        if frame.shape != (size, size, 3) or frame.dtype != np.uint8:
            raise EammError(f"paste-back needs a uint8 {size}x{size}x3 frame, got {frame.dtype} {frame.shape}")
        if out is None or out.shape != self.original.shape or out.dtype != np.uint8:
            out = self.original.copy()
        if self.box is None:
            return out
        x0, y0, x1, y1 = self.box
        frame = np.ascontiguousarray(frame)
        interp = self.interpolation
        if self.pre > 1:
            frame = cv2.resize(frame, (size * self.pre, size * self.pre), interpolation=interp)
            interp = cv2.INTER_LINEAR
        warped = cv2.remap(frame, self.maps[0], self.maps[1], interp, borderMode=cv2.BORDER_REPLICATE)
        out[y0:y1, x0:x1] = cv2.blendLinear(warped, self.original[y0:y1, x0:x1], self.weight, self.inv_weight)
        return out


def _support_box(weight: np.ndarray, source_from_crop: np.ndarray, shape) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) in the original of the crop pixels with non-zero weight."""
    ys, xs = np.nonzero(weight > 0.0)
    if len(xs) == 0:
        return None
    corners = np.array([[xs.min() - 1, ys.min() - 1], [xs.max() + 1, ys.min() - 1],
                        [xs.min() - 1, ys.max() + 1], [xs.max() + 1, ys.max() + 1]], np.float64)
    pts = corners @ source_from_crop[:2, :2].T + source_from_crop[:2, 2]
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    h, w = shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None


_cache: OrderedDict[tuple[int, int], tuple[weakref.ref, PasteBack]] = OrderedDict()
_cache_lock = threading.Lock()


def paste_back_plan(crop: PortraitCrop, size: int = SIZE) -> PasteBack:
    """The (cached) :class:`PasteBack` of ``crop`` for ``size`` frames: built once per crop object
    and size, kept for the last few."""
    key = (id(crop), int(size))
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0]() is crop:
            _cache.move_to_end(key)
            return hit[1]
    plan = PasteBack(crop, size=size)
    with _cache_lock:
        _cache[key] = (weakref.ref(crop), plan)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return plan


def paste_back(crop: PortraitCrop, frame256: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``frame256`` (uint8 [S,S,3], a rendered crop at any size S) put back into ``crop.original`` at
    its full resolution with a feathered face mask. Returns uint8 [H,W,3]; the original is not
    modified. ``out``: an earlier result for the same crop to reuse (see :meth:`PasteBack.__call__`)."""
    frame = np.asarray(frame256)
    square = frame.ndim == 3 and frame.shape[0] == frame.shape[1] and frame.shape[0] >= SIZE
    size = frame.shape[0] if square else SIZE  # (anything else is refused by the plan)
    return paste_back_plan(crop, size)(frame, out)
