"""The portrait's inner lip edges, taken from its pixels where the 68-point models read them too close.

On a slightly parted mouth the landmark models put the inner-lip points on the teeth rather than on
the lips' inner edges (``60.png``: a 2 px gap read, about 5 px of teeth showing). The landmark
engine takes the crop's gap as the lips' opening at rest, so a "closed" frame then still showed a
band of teeth between the lips. The crop's landmarks (:mod:`.portrait`) are refined here: each
inner-lip pair (61/67, 62/66, 63/65) is moved out to the edges of the band of non-lip pixels (teeth,
the mouth's dark inside) on a vertical profile between the outer lips, read on CIELAB a*
(red-green): lips are redder than teeth and the inside of the mouth.

Only widens, only where the band is clearly less red than the lips, at least :data:`MIN_BAND_PX`
tall and wider than the models' gap by :data:`MIN_GAIN_PX` (closed lips, whose dark line is thinner,
are left alone), and by at most :data:`MAX_MOVE_IOD` per lip.
"""

from __future__ import annotations

import cv2
import numpy as np

#: (upper inner, lower inner, upper outer, lower outer) landmark indices, left to right
PAIRS = ((61, 67, 50, 58), (62, 66, 51, 57), (63, 65, 52, 56))
#: a* contrast (CIELAB units) between the lips and the band that makes the band count
MIN_CONTRAST = 8.0
#: band height (crop pixels) below which the mouth counts as closed
MIN_BAND_PX = 3
#: how much wider than the models' gap (pixels) the band must be to move the points
MIN_GAIN_PX = 1.5
#: most a lip point moves (inter-ocular distances)
MAX_MOVE_IOD = 0.06
#: where the lip edge lies beyond the last band row (pixels): past its soft transition
EDGE_PX = 1.0


def _a_star(patch: np.ndarray) -> np.ndarray:
    """CIELAB a* of an RGB uint8 patch (only the few columns a profile needs are converted)."""
    lab = cv2.cvtColor(np.asarray(patch, np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab[..., 1]


def _band(a_prof: np.ndarray, y0: int, iu: float, il: float) -> tuple[int, int] | None:
    """First and last row (profile indices) of the less-red band around the models' inner lips."""
    n = a_prof.size
    up_body = a_prof[: max(1, int(0.6 * (iu - y0)))]
    lo_start = min(n - 1, int(np.ceil(il - y0)) + max(1, int(0.4 * (n - (il - y0)))))
    lo_body = a_prof[lo_start:] if lo_start < n else a_prof[-1:]
    lip_a = min(float(np.median(up_body)), float(np.median(lo_body)))
    lo, hi = max(0, int(np.floor(iu - y0)) - 2), min(n, int(np.ceil(il - y0)) + 3)
    if hi <= lo:
        return None
    k = lo + int(np.argmin(a_prof[lo:hi]))
    if lip_a - a_prof[k] < MIN_CONTRAST:
        return None
    inside = a_prof < 0.5 * (lip_a + a_prof[k])
    top = bottom = k
    while top > 0 and inside[top - 1]:
        top -= 1
    while bottom < n - 1 and inside[bottom + 1]:
        bottom += 1
    if top == 0 or bottom == n - 1:  # not closed off by lips on both sides
        return None
    return top, bottom


def refine_inner_lips(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``landmarks`` [68,2] (crop pixels) with the inner-lip points moved out to the lips' edges
    where the crop ``image`` [H,W,3] RGB shows a band of teeth or mouth between them."""
    lm = np.array(landmarks, np.float64, copy=True)
    h, w = image.shape[:2]
    iod = float(np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)))
    for up, lo, ou, ol in PAIRS:
        x = int(round(0.5 * (lm[up, 0] + lm[lo, 0])))
        y0, y1 = int(np.floor(lm[ou, 1])), int(np.ceil(lm[ol, 1])) + 1
        if not (1 <= x < w - 1 and 0 <= y0 and y1 <= h and y1 - y0 >= 6):
            continue
        band = _band(_a_star(image[y0:y1, x - 1:x + 2]).mean(1), y0, lm[up, 1], lm[lo, 1])
        if band is None or band[1] - band[0] + 1 < MIN_BAND_PX:
            continue
        new_up = max(min(lm[up, 1], y0 + band[0] - EDGE_PX), lm[up, 1] - MAX_MOVE_IOD * iod)
        new_lo = min(max(lm[lo, 1], y0 + band[1] + EDGE_PX), lm[lo, 1] + MAX_MOVE_IOD * iod)
        if (new_lo - new_up) - (lm[lo, 1] - lm[up, 1]) >= MIN_GAIN_PX:
            lm[up, 1], lm[lo, 1] = new_up, new_lo
    return lm
