"""Eyelids: a closing eye is covered by its lid, not squashed.

The mesh warp alone would squeeze the iris when the upper lid (37, 38 / 43, 44) comes down, and
wherever the landmarks sit a little inside the visible eye (common on paintings) it would drag
bits of eyeball down with the lid. So, whenever a driven eye is narrower than the source eye:

1. the eye's **interior** is drawn again with the eye's rigid motion only (the similarity taking
   the source eye corners onto the driven ones), inside the driven eye outline: the iris keeps its
   shape and the lid passes over it;
2. the **lid** is painted from where the open lid was (the source upper lid carried by the same
   rigid motion, a little higher to cover the lashes) down to the driven upper lid, in the skin
   colour sampled, column by column, from the band above the source eye, gently shaded;
3. a thin dark **lash line** is drawn along the driven upper lid.

Steps 2 and 3 follow the upper lid's descent only: a lower lid rising (a smile's squint) just hides
the bottom of the iris behind it (step 1).

Everything is feathered and fades in with the amount of closure, so a blink over 3-4 frames reads
as a lid coming down; at a full blink only lid skin and the lash line remain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from eamm_core.engines.landmark.stats import median_axis0, percentile_axis0

#: (outer corner, inner corner, upper lid, lower lid) in the order along the eye, per eye
EYES = ((36, 39, (37, 38), (41, 40)), (42, 45, (43, 44), (47, 46)))
#: an eye narrower than this fraction of its source opening is redrawn (interior, lid, lashes)
CLOSING = 0.98
#: closure (1 - opening ratio) over which the lid paint fades in
LID_FADE = 0.15
PAD = 3
#: the painted lid's fine detail comes from this many eye openings away (+: above the eye, -: below)
LID_DETAIL_FROM = -1.3  # the skin under the eye: above it, lashes and the lid's fold would ghost in
PROFILE_SAMPLES = 16


@dataclass(frozen=True)
class EyeSource:
    """Source data of one eye: corners, lid landmark indices, opening (px), lid colour profile
    [PROFILE_SAMPLES,3] from corner to corner, lash colour [3] (float32 RGB), the profile's steps."""

    corners: tuple[int, int]
    upper: tuple[int, int]
    lower: tuple[int, int]
    opening: float
    lid: np.ndarray
    lash: np.ndarray
    lid_step: np.ndarray  # [PROFILE_SAMPLES,3] each lid sample's difference to the next (0 after the last)


def eye_opening(lm: np.ndarray, upper, lower) -> float:
    d = lm[list(lower)] - lm[list(upper)]
    return float(np.mean(np.hypot(d[:, 0], d[:, 1])))


def _axes(lm: np.ndarray, a: int, b: int):
    pa, pb = lm[a].astype(np.float64), lm[b].astype(np.float64)
    width = float(np.hypot(*(pb - pa))) or 1.0
    ux = (pb - pa) / width
    return pa, ux, np.array([-ux[1], ux[0]]), width


def _lid_curve(lm, a, mid, b, origin, ux, uy, s):
    return _curve_through(lm[[a, *mid, b]], origin, ux, uy, s)


def _curve_through(points, origin, ux, uy, s):
    """The polyline ``points`` [n,2] as heights along ``uy`` at positions ``s`` along ``ux``."""
    rel = points.astype(np.float64) - origin
    ps, pt = rel @ ux, rel @ uy
    order = np.argsort(ps, kind="stable")
    return np.interp(s, ps[order], pt[order])


def _band(img, origin, ux, uy, s, t_curve, offsets) -> np.ndarray:
    """Pixels of ``img`` along the curve ``t_curve(s)`` shifted by each of ``offsets`` (px, +down)."""
    h, w = img.shape[:2]
    rows = []
    for off in offsets:
        pts = origin + np.outer(s, ux) + np.outer(t_curve + off, uy)
        xy = np.clip(np.round(pts).astype(int), 0, (w - 1, h - 1))
        rows.append(img[xy[:, 1], xy[:, 0]])
    return np.stack(rows)


def _sample_eye(image: np.ndarray, lm: np.ndarray, a: int, b: int, upper, lower, opening: float,
                unit: float = 1.0):
    """Lid colour profile (skin just above the upper lid blended with the skin under the eye, which
    a closed, forward-facing lid resembles) and lash colour (darkest pixels of the lid margin)."""
    origin, ux, uy, width = _axes(lm, a, b)
    s = np.linspace(0.1, 0.9, PROFILE_SAMPLES) * width
    img = image.astype(np.float32)
    o = max(opening, 3.0 * unit)
    up_t = _lid_curve(lm, a, upper, b, origin, ux, uy, s)
    low_t = _lid_curve(lm, a, lower, b, origin, ux, uy, s)
    above = median_axis0(_band(img, origin, ux, uy, s, up_t, -o * np.linspace(0.45, 0.9, 4)))
    below = median_axis0(_band(img, origin, ux, uy, s, low_t, o * np.linspace(0.5, 1.0, 4)))
    lid = 0.45 * above + 0.55 * below
    lid = cv2.GaussianBlur(lid[None], (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE)[0]
    edge = _band(img, origin, ux, uy, s, up_t, -o * np.linspace(0.0, 0.3, 4)).reshape(-1, 3)
    lum = edge @ np.array([0.299, 0.587, 0.114], np.float32)
    lash = edge[lum <= percentile_axis0(lum, 25)].mean(0) * 0.8
    return lid.astype(np.float32), lash.astype(np.float32)


def prepare_eyes(image: np.ndarray, src_lm: np.ndarray, unit: float = 1.0) -> tuple[EyeSource, ...]:
    """Per-eye source data (the constructor's part of the work). ``image`` and ``src_lm`` at the
    frame's size; ``unit``: frame pixels per 256-crop pixel."""
    out = []
    for a, b, up, lo in EYES:
        opening = eye_opening(src_lm, up, lo)
        lid, lash = _sample_eye(image, src_lm, a, b, up, lo, opening, unit)
        step = np.vstack([np.diff(lid, axis=0), np.zeros((1, 3), lid.dtype)])
        out.append(EyeSource((a, b), up, lo, opening, lid, lash, step))
    return tuple(out)


def _similarity(src_a, src_b, dst_a, dst_b) -> np.ndarray:
    """2x3 similarity taking the segment src_a-src_b onto dst_a-dst_b."""
    s, d = complex(*(src_b - src_a)), complex(*(dst_b - dst_a))
    z = d / s if abs(s) > 1e-9 else 1.0
    rot = np.array([[z.real, -z.imag], [z.imag, z.real]])
    t = dst_a - rot @ src_a
    return np.hstack([rot, t[:, None]])


def _smooth_step(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _smooth_step1(x: float) -> float:
    """:func:`_smooth_step` of one number (no array overhead)."""
    x = min(max(float(x), 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def draw_closing_eyes(out: np.ndarray, source: np.ndarray, src_lm: np.ndarray, drv_lm: np.ndarray,
                      eyes: tuple[EyeSource, ...], *, to_source: np.ndarray | None = None,
                      unit: float = 1.0, texture: np.ndarray | None = None, dense=None) -> None:
    """Redraw, in place on ``out`` (uint8 [S,S,3]), every eye that closes (see module doc).
    Landmarks in ``out``'s pixels; ``to_source`` (2x3) takes them to ``source``'s pixels (None:
    the same); ``unit``: ``out`` pixels per 256-crop pixel (lash and feather widths scale with it);
    ``texture``: the still frame's fine detail (float32 [S,S,3], :func:`fine_detail`), carried from
    the skin under each eye onto its painted lid (None: a smooth lid). ``dense``: per eye, the
    driven outline, driven upper lid and source upper lid of the dense mesh (:mod:`.dense_mesh`,
    ``out``'s pixels, corner to corner): the eye's interior and the lid follow them (None: the 68 points)."""
    for k, eye in enumerate(eyes):
        if eye.opening <= 1e-3:
            continue
        ratio = eye_opening(drv_lm, eye.upper, eye.lower) / eye.opening
        if ratio >= CLOSING:
            continue
        a, b = eye.corners
        fwd = _similarity(src_lm[a], src_lm[b], drv_lm[a], drv_lm[b])
        rigid_src = src_lm @ fwd[:, :2].T + fwd[:, 2]  # source eye carried by the eye's motion
        poly, lids = drv_lm[a:a + 6], None
        if dense is not None:
            poly, drv_up, src_up = dense[k]
            lids = (drv_up, src_up @ fwd[:, :2].T + fwd[:, 2])
        box = _box(np.vstack([poly, rigid_src[a:a + 6]]), eye.opening, out.shape, PAD * unit)
        if box is None:
            continue
        _draw_interior(out, source, poly, fwd, box, to_source)
        # how far the upper lid came down (a lower lid rising, as in a smile's squint, paints no lid)
        _, _, uy, _ = _axes(drv_lm, a, b)
        descent = float(np.mean([(drv_lm[u] - rigid_src[u]) @ uy for u in eye.upper])) / eye.opening
        if descent > 0.0:
            _draw_lid(out, drv_lm, rigid_src, eye, box, min(descent, 1.0), unit, texture, lids)


def _box(pts: np.ndarray, opening: float, shape, pad: float = PAD) -> tuple[int, int, int, int] | None:
    x0, y0 = np.floor(pts.min(0) - (pad, pad + 0.5 * opening)).astype(int)
    x1, y1 = np.ceil(pts.max(0) + pad + 1).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def _draw_interior(out, source, poly, fwd, box, to_source=None) -> None:
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    if not mask.any():
        return
    back = cv2.invertAffineTransform(fwd)
    if to_source is not None:  # driven eye -> source eye (frame pixels) -> source image pixels
        back = np.asarray(to_source, np.float64)[:, :2] @ back + np.hstack([np.zeros((2, 2)), to_source[:, 2:]])
    back[:, 2] += back[:, :2] @ np.array([x0, y0], np.float64)  # patch pixel -> source pixel
    patch = cv2.warpAffine(source, back, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)
    region = out[y0:y1, x0:x1]
    alpha = mask.astype(np.float32)[..., None] / 255.0
    region[:] = np.clip(region + alpha * (patch.astype(np.float32) - region) + 0.5, 0, 255).astype(np.uint8)


def fine_detail(image: np.ndarray, unit: float) -> np.ndarray:
    """The picture's fine detail (float32: the image minus a Gaussian of 0.75 crop px)."""
    img = image.astype(np.float32)
    return img - cv2.GaussianBlur(img, (0, 0), 0.75 * unit)


def _lid_texture(texture: np.ndarray, box, shift: int) -> np.ndarray | None:
    """The detail ``shift`` px above ``box`` (negative: below; the skin under the eye, which a closed,
    forward-facing lid resembles), or None where that lies off the frame."""
    x0, y0, x1, y1 = box
    if y0 - shift < 0 or y1 - shift > texture.shape[0]:
        return None
    return texture[y0 - shift:y1 - shift, x0:x1]


def _draw_lid(out, drv_lm, rigid_src, eye: EyeSource, box, closure: float, unit: float = 1.0,
              texture: np.ndarray | None = None, lids=None) -> None:
    """Lid skin from the open lid's place down to the driven lid, and the lash line along it.

    Written for few array operations (the box is a few hundred pixels, so each operation costs
    mostly its call): the two end ramps of ``across`` as one ramp of the nearer end (the same
    values for any eye wider than 1.5 px), the lid profile from its samples and their differences,
    ``max(inside, lash) * fade`` for the larger of the two faded alphas. ``lids``: the driven and
    the carried source upper lid as point chains (dense mesh), None: the 68 points."""
    x0, y0, x1, y1 = box
    a, b = eye.corners
    origin, ux, uy, width = _axes(drv_lm, a, b)
    xs = np.arange(x0, x1, dtype=np.float64)[None, :] - origin[0]  # pixel coordinates, broadcast
    ys = np.arange(y0, y1, dtype=np.float64)[:, None] - origin[1]
    s = xs * ux[0] + ys * ux[1]
    t = xs * uy[0] + ys * uy[1]
    if lids is None:
        t_lid = _lid_curve(drv_lm, a, eye.upper, b, origin, ux, uy, s)
        t_open = _lid_curve(rigid_src, a, eye.upper, b, origin, ux, uy, s)
    else:
        t_lid = _curve_through(lids[0], origin, ux, uy, s)
        t_open = _curve_through(lids[1], origin, ux, uy, s)
    t_open -= 0.2 * eye.opening
    across = _smooth_step(np.minimum(s, width - s) * (1 / (1.5 * unit)) + 0.5)
    span = np.maximum(t_lid - t_open, 1e-3)
    depth = t - t_open  # how far below the open lid's place
    inside = _smooth_step(depth / np.maximum(0.5 * span, 2.0 * unit))
    inside *= _smooth_step(t_lid - t + 0.5)
    inside *= across
    # the lid colour profile (PROFILE_SAMPLES evenly spaced over 0.1..0.9 of the width), interpolated
    scale = (PROFILE_SAMPLES - 1) / 0.8
    pos = np.clip(s * (scale / width) - 0.1 * scale, 0.0, PROFILE_SAMPLES - 1.0)
    i0 = np.minimum(pos.astype(np.intp), PROFILE_SAMPLES - 2)
    pos -= i0
    lid = eye.lid[i0] + eye.lid_step[i0] * pos[..., None]
    f = np.clip(depth / span, 0.0, 1.0)
    lid *= (0.93 + 0.1 * np.sin(np.pi * f))[..., None]  # the lid bulges a little toward the light
    z = (t - t_lid) / unit + 0.4  # the lash line: about 0.7 crop px wide at any frame size
    lash = np.exp(z * z * (-0.5 / 0.49))
    lash *= across * min(1.0, 0.4 + closure)
    col = lid + lash[..., None] * (eye.lash - lid)
    detail = None if texture is None else _lid_texture(texture, box, int(round(LID_DETAIL_FROM * eye.opening)))
    if detail is not None:
        col = col + detail
    alpha = (np.maximum(inside, lash) * _smooth_step1(closure / LID_FADE)).astype(np.float32)[..., None]
    region = out[y0:y1, x0:x1]
    region[:] = np.clip(region + alpha * (col - region) + 0.5, 0, 255).astype(np.uint8)
