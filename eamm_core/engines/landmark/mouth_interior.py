"""Mouth interior: what shows between the lips where the source has no pixels for it.

When the driven inner-lip polygon (60-67) opens wider than the source's, the warp maps the gap
onto the source's lip line. This module paints, in the mouth's own frame (x along the mouth
corners, y down), on top of the warped frame and with a feathered edge:

* a **cavity**: the lips' own shadow just inside the lips, graded to dark toward the throat and the
  corners (colours derived from the portrait's own lips, so paintings keep their palette and a
  black-and-white photo stays grey);
* the **upper teeth**: fixed to the skull (their edge is the source's lip line carried by the head's
  motion, slightly lower), so their visible height follows the upper lip's raise; shaded darker
  toward the mouth corners and under the lip, with faint gaps between incisors; colour and light
  from the portrait's own eye whites (:mod:`.mouth_colour`, with a skin-based fallback);
* the **lower teeth** and the **tongue** when the jaw opens wide;
* then the picture's own **softness** (blur, also of the edge against the lips) and **grain** (a
  fixed pattern, so nothing flickers), both measured once per portrait.

The synthetic interior is faded out when the source mouth is itself open (its own teeth and cavity
are then stretched by the warp instead) and faded in as the driven gap exceeds the source gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from eamm_core.engines.landmark.mouth_colour import MouthLook, mouth_look

UPPER_IN = [60, 61, 62, 63, 64]
LOWER_IN = [60, 67, 66, 65, 64]
PAIRS = ((61, 67), (62, 66), (63, 65))
PAD = 2
#: source gap (fraction of mouth width) below which the source interior is unusable (a thin band of
#: teeth stretches into streaks), and above which the source's own interior is used entirely
SOURCE_CLOSED, SOURCE_OPEN = 0.13, 0.2
#: driven gap growth (fraction of mouth width) over which the synthetic interior fades in
FADE_IN = 0.03
#: upper teeth edge below the lip line at rest (fraction of mouth width)
TEETH_DROP = 0.042
#: the lips' shadow inside the lips: its light (0 = the cavity's deepest colour, 1 = the lips'
#: shadow) and how far in it reaches (fraction of the opening's height)
RIM_LIGHT, RIM_WIDTH = 1.0, 0.3
#: the upper lip's shadow on the upper teeth, just under the lip (fraction of their light taken)
UNDER_LIP_SHADOW = 0.15


#: the fixed grain pattern's seed (one pattern for every frame: grain that does not flicker)
GRAIN_SEED = 17


@dataclass(frozen=True)
class MouthSource:
    """Per-portrait mouth data: colours and finish (:class:`MouthLook`), source gap, lip line in
    source pixels, the fixed unit grain pattern [S,S] float32 (the frame's size), ``unit``: frame
    pixels per 256-crop pixel (the painted details' widths scale with it)."""

    look: MouthLook
    gap: float
    lip_line: np.ndarray  # [5,2] midline of the inner lips, corner to corner
    synth_weight: float
    grain: np.ndarray
    unit: float = 1.0

    @property
    def teeth(self) -> np.ndarray:
        return self.look.teeth


def mouth_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin (mid corners), unit x (48 -> 54), unit y (down) and mouth width."""
    a, b = lm[48].astype(np.float64), lm[54].astype(np.float64)
    width = float(np.hypot(*(b - a))) or 1.0
    ux = (b - a) / width
    return 0.5 * (a + b), ux, np.array([-ux[1], ux[0]]), width


def inner_gap(lm: np.ndarray) -> float:
    """Mean opening of the inner lips along the mouth's vertical, as a fraction of mouth width."""
    _, _, uy, width = mouth_axes(lm)
    return float(np.mean([(lm[lo] - lm[up]) @ uy for up, lo in PAIRS])) / width


def _hermite(xp: np.ndarray, yp: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Smooth (Catmull-Rom style) curve through (xp, yp), xp increasing; clamped outside."""
    xp = np.maximum.accumulate(np.asarray(xp, np.float64))
    h = np.maximum(np.diff(xp), 1e-6)
    sec = np.diff(yp) / h
    m = np.concatenate([[sec[0]], 0.5 * (sec[:-1] + sec[1:]), [sec[-1]]])
    xc = np.clip(x, xp[0], xp[-1])
    i = np.clip(np.searchsorted(xp, xc, side="right") - 1, 0, len(h) - 1)
    u = (xc - xp[i]) / h[i]
    u2, u3 = u * u, u * u * u
    return ((2 * u3 - 3 * u2 + 1) * yp[i] + (u3 - 2 * u2 + u) * h[i] * m[i]
            + (-2 * u3 + 3 * u2) * yp[i + 1] + (u3 - u2) * h[i] * m[i + 1])


def prepare_mouth(image: np.ndarray, src_lm: np.ndarray, unit: float = 1.0, look: MouthLook | None = None) -> MouthSource:
    """Colours, finish and geometry of the source mouth (the constructor's part of the work), from
    ``image`` and ``src_lm`` at the frame's size (``unit`` frame pixels per 256-crop pixel);
    ``look``: :func:`mouth_look` of the same ``image`` and ``src_lm``, measured before (cached)."""
    lm = np.asarray(src_lm, np.float64)
    gap = inner_gap(lm)
    line = 0.5 * (lm[UPPER_IN] + lm[LOWER_IN])
    w = 1.0 - float(np.clip((gap - SOURCE_CLOSED) / (SOURCE_OPEN - SOURCE_CLOSED), 0.0, 1.0))
    grain = np.random.default_rng(GRAIN_SEED).standard_normal(image.shape[:2]).astype(np.float32)
    return MouthSource(look=mouth_look(image, lm) if look is None else look, gap=gap, lip_line=line, synth_weight=w, grain=grain,
                       unit=float(unit))


def _curve(s_pts: np.ndarray, t_pts: np.ndarray, s: np.ndarray) -> np.ndarray:
    order = np.argsort(s_pts, kind="stable")
    return _hermite(s_pts[order], t_pts[order], s)


def _smooth_step(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def draw_mouth(out: np.ndarray, drv_lm: np.ndarray, head: np.ndarray, src: MouthSource,
               tongue: float = 0.0) -> None:
    """Paint the interior in place on ``out`` (uint8 [S,S,3]) for driven landmarks ``drv_lm`` (its pixels);
    ``head`` is the 2x3 affine of the head's motion (source -> driven pixels); ``tongue`` in [0,1]
    raises the tongue's tip toward the upper teeth (T, D, N, L, TH; :mod:`.tongue`)."""
    gap = inner_gap(drv_lm)
    alpha = src.synth_weight * float(np.clip((gap - src.gap) / FADE_IN, 0.0, 1.0))
    if alpha <= 0.0:
        return
    inner = drv_lm[60:68].astype(np.float64)
    h, w = out.shape[:2]
    sigma = src.look.blur_sigma
    pad = int(np.ceil(PAD * src.unit + 2.0 * sigma))
    x0, y0 = np.maximum(np.floor(inner.min(0)).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(inner.max(0)).astype(int) + pad + 1, (w, h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    origin, ux, uy, width = mouth_axes(drv_lm)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    s = (xs - origin[0]) * ux[0] + (ys - origin[1]) * ux[1]
    t = (xs - origin[0]) * uy[0] + (ys - origin[1]) * uy[1]
    rel = drv_lm.astype(np.float64) - origin
    ps, pt = rel @ ux, rel @ uy
    t_up = _curve(ps[UPPER_IN], pt[UPPER_IN], s)
    t_low = _curve(ps[LOWER_IN], pt[LOWER_IN], s)
    s_lo, s_hi = ps[60], ps[64]
    inside = (_smooth_step(t - t_up + 0.5) * _smooth_step(t_low - t + 0.5)
              * _smooth_step(s - s_lo + 0.5) * _smooth_step(s_hi - s + 0.5))
    colour = _interior_colour(s, t, t_up, t_low, (s_lo, s_hi), width, head, origin, ux, uy, src,
                              float(np.clip(tongue, 0.0, 1.0)))
    colour = _finish(colour.astype(np.float32), src.grain[y0:y1, x0:x1], src.look)
    a = (alpha * inside).astype(np.float32)
    if sigma > 0.3:  # a soft picture: soft edges at the lips too
        a = cv2.GaussianBlur(a, (0, 0), sigma) * (a > 0)
    a = a[..., None]
    region = out[y0:y1, x0:x1]
    region[:] = np.clip(region + a * (colour - region) + 0.5, 0, 255).astype(np.uint8)


def _finish(colour: np.ndarray, grain: np.ndarray, look: MouthLook) -> np.ndarray:
    """The picture's own softness (Gaussian blur) and grain (the fixed pattern, scaled) on the paint."""
    if look.blur_sigma > 0.3:
        colour = cv2.GaussianBlur(colour, (0, 0), look.blur_sigma)
    if look.grain > 0.2:
        colour = colour + look.grain * grain[..., None]
    return colour


def _interior_colour(s, t, t_up, t_low, s_range, width, head, origin, ux, uy, src: MouthSource,
                     tongue: float = 0.0) -> np.ndarray:
    """RGB float32 [h,w,3] of cavity, tongue and teeth at mouth-frame coordinates (s, t)."""
    s_lo, s_hi = s_range
    centre = 0.5 * (s_lo + s_hi)
    half = max(0.5 * (s_hi - s_lo), 1.0)
    r = np.clip(np.abs(s - centre) / half, 0.0, 1.0)
    open_h = np.maximum(t_low - t_up, 1e-3)
    f = np.clip((t - t_up) / open_h, 0.0, 1.0)
    # the cavity: the lips' shadow just inside the lips, dark toward the throat and the corners,
    # catching a little light low in the middle
    edge = np.minimum(np.minimum(t - t_up, t_low - t), np.minimum(s - s_lo, s_hi - s))
    rim = RIM_LIGHT * np.exp(-np.maximum(edge, 0.0) / max(RIM_WIDTH * float(np.max(open_h)), 1.0))
    light = np.maximum(0.6 * f * f * (1.0 - r * r), rim)
    look = src.look
    col = look.cavity_deep + light[..., None] * (look.cavity_edge - look.cavity_deep)
    gap_px = float(np.max(open_h))
    col = _tongue(col, t, (t_up, t_low), r, gap_px, width, src, tongue)
    col = _lower_teeth(col, s, t, t_low, r, centre, gap_px, width, src)
    return _upper_teeth(col, s, t, t_up, width, head, origin, ux, uy, r, src)


def _tongue(col, t, lips, r, gap_px, width, src: MouthSource, raised: float = 0.0) -> np.ndarray:
    """A low dome on the floor of the mouth (anchored to the jaw's middle, so it sinks out of sight
    toward the corners), darker at the back, with a faint wet sheen along its top. ``raised`` lifts
    its tip (narrower, lit from the front) up behind the upper teeth, which are painted over it."""
    t_up, t_low = lips
    low_h = float(np.clip(0.6 * (gap_px - 0.12 * width), 0.0, 0.2 * width))
    middle = np.argmin(r)
    floor = float(t_low.flat[middle])  # the lower lip's line at the middle of the mouth
    reach = floor - (float(t_up.flat[middle]) + 0.2 * gap_px)  # up to just behind the upper teeth's edge
    tongue_h = max(low_h, raised * reach)
    if tongue_h <= 0.0:
        return col
    dome = np.sqrt(np.clip(1.0 - (r / (0.75 - 0.2 * raised)) ** 2, 0.0, 1.0))
    top = floor - tongue_h * dome
    depth = t - top
    unit = src.unit
    alpha = _smooth_step(depth / (2.0 * unit)) * (dome > 0) * min(1.0, tongue_h / (2.0 * unit))
    down = np.clip(depth / max(tongue_h, 1.0), 0.0, 1.0)
    shade = (1.0 - raised) * (0.5 + 0.45 * down) + raised * (0.95 - 0.3 * down)
    shade = shade + 0.12 * np.exp(-0.5 * ((depth / unit - 1.5) / 0.8) ** 2)
    return col + alpha[..., None] * (src.look.tongue * shade[..., None] - col)


def _seams(s: np.ndarray, centre: float, tooth: float, depth: float, unit: float = 1.0) -> np.ndarray:
    """Multiplicative shading with thin dark seams (0.6 crop px) between teeth ``tooth`` px wide."""
    phase = (s - centre) / tooth
    return 1.0 - depth * np.exp(-0.5 * ((phase - np.round(phase)) * tooth / (0.6 * unit)) ** 2)


def _lower_teeth(col, s, t, t_low, r, centre, gap_px, width, src: MouthSource) -> np.ndarray:
    """Lower incisors behind the lower lip, shown once the jaw is wide open, receding at the sides."""
    low_h = float(np.clip(0.5 * (gap_px - 0.2 * width), 0.0, 0.05 * width))
    if low_h <= 0.3 * src.unit:
        return col
    arch = np.clip(1.0 - (r / 0.6) ** 2, 0.0, 1.0)
    band = _smooth_step(t - (t_low - low_h * arch) + 0.5) * (arch > 0)
    shade = (0.9 - 0.3 * r) * _seams(s, centre, 0.09 * width, 0.1, src.unit)
    return col + band[..., None] * (src.teeth * shade[..., None] - col)


def _upper_teeth(col, s, t, t_up, width, head, origin, ux, uy, r, src: MouthSource) -> np.ndarray:
    """Upper teeth hang from the skull: their edge is the source lip line moved by the head."""
    line = src.lip_line @ head[:, :2].T + head[:, 2] - origin
    t_edge = _curve(line @ ux, line @ uy, s) + TEETH_DROP * width
    centre_s = float(np.mean(line @ ux))
    band = _smooth_step(t_edge - t + 0.5) * _smooth_step((0.8 - r) / 0.2)
    shade = 1.0 - 0.45 * r * r
    shade = shade * (1.0 - UNDER_LIP_SHADOW * np.exp(-np.maximum(t - t_up, 0.0) / (1.2 * src.unit)))
    shade = shade * _seams(s, centre_s, 0.12 * width, 0.18, src.unit)
    return col + band[..., None] * (src.teeth * shade[..., None] - col)
