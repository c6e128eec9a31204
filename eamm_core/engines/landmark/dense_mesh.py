"""MediaPipe's dense face mesh in the landmark engine's warp (crops with ``dense_px``).

The motion stays defined on the 68 points. A :class:`DenseRig` adds chosen vertices of the 478-point
mesh to the warp mesh and drives them from the driven 68 points:

* **contours** (upper and lower eyelids, both edges of each brow): each dense point follows the
  68-point chain it lies along (eyes 36-39 / 39-41-36 and 42-45 / 45-47-42, brows 17-21 and
  22-26). In the source it is the point at ``t`` on its nearest chain segment plus an offset;
  driven, the same ``t`` on the driven segment plus the offset turned and scaled with the head. An
  upper lid's offset also shrinks with its eye's opening, and the upper lid stays above the lower
  one (a closed eye closes along the whole dense contour, not only at the 68 points);
* **irises** (the points of 468-477 inside the eye's outline): moved by the similarity taking the
  source eye corners onto the driven ones, so lids and expressions do not squash or drag the iris
  (the gaze is kept); a lid coming down past an iris point pushes it down with it (the eye's
  interior is then redrawn by :mod:`.eyes`).

The 68 points and the anchors move exactly as in the 68-point mesh (its fold relaxation included);
the dense points follow and only they give way to a fold they would still make. The eye contours
are enforced as mesh edges (through the 68 points on them), the eyes' triangles
(irises included) may collapse, and the driven outlines (:meth:`DenseRig.outline`) give the
renderer its eye polygons. The lips stay on the 68 points: their dense contours measured worse
(docs/engine-landmark.md, "Dense mesh").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import cv2
import numpy as np

from eamm_core.engines.landmark import warp

#: MediaPipe face-mesh contours (vertex ids of the public canonical topology), corner to corner,
#: each with the 68-point chain it follows and its group (see ``_factors``)
CONTOURS = (
    ("right_upper", (33, 246, 161, 160, 159, 158, 157, 173, 133), (36, 37, 38, 39), 1),
    ("right_lower", (33, 7, 163, 144, 145, 153, 154, 155, 133), (36, 41, 40, 39), 0),
    ("left_upper", (362, 398, 384, 385, 386, 387, 388, 466, 263), (42, 43, 44, 45), 2),
    ("left_lower", (362, 382, 381, 380, 374, 373, 390, 249, 263), (42, 47, 46, 45), 0),
    ("right_brow", (46, 53, 52, 65, 55, 70, 63, 105, 66, 107), (17, 18, 19, 20, 21), 0),
    ("left_brow", (276, 283, 282, 295, 285, 300, 293, 334, 296, 336), (22, 23, 24, 25, 26), 0),
)
#: the brows are areas, not lines: their points follow the chain but are no mesh edges
EDGELESS = ("right_brow", "left_brow")
IRISES = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))
#: per eye (the subject's right, then left): its two corners and its (upper, lower) lid pairs of the 68 points
EYE_CORNERS = ((36, 39), (42, 45))
LID_PAIRS = np.array((((37, 41), (38, 40)), ((43, 47), (44, 46))))
#: dense points nearer than this (crop px, in the mesh's opened layout) to a kept point are dropped
MIN_DIST = 1.5
#: iris points must lie this far (px) inside the source eye outline; driven, this far from the lids
IRIS_MARGIN = 1.0
#: a driven upper lid stays this far (px) above the lower lid
MIN_LID_GAP = 0.3
IRIS_GROUP = 3
#: the extra iris points lie this fraction of the way from the iris centre to its top and bottom
IRIS_INNER = 0.6


@dataclass(frozen=True)
class DenseRig:
    """Dense vertices of one portrait and how they follow the 68 points.

    ``ids`` [K] MediaPipe vertex ids (-1: an extra iris point); ``src`` [K,2] source crop pixels; ``seg`` [K,2] the 68-point
    segment each follows (irises: the eye's corners); ``t`` [K] position on it; ``offset`` [K,2]
    source offset from it; ``layout`` [K,2] the points in the mesh's opened layout (mouth and eyes
    held open: topology only); ``group`` [K]: 0 offset kept, 1/2 scaled with the right/left eye's
    opening (upper lids), 3 iris; ``eye`` [K] which eye an iris point is in (-1:
    none); ``chains``: name -> mesh-local vertex order corner to corner (a 68 index ``i`` as ``i``,
    dense point ``k`` as ``-(k + 1)``); ``index``: name -> the chain's rows in ``[68 points; dense points]``."""

    ids: np.ndarray
    src: np.ndarray
    seg: np.ndarray
    t: np.ndarray
    offset: np.ndarray
    group: np.ndarray
    eye: np.ndarray
    chains: dict
    layout: np.ndarray
    index: dict

    def edges(self, base: int) -> list[tuple[int, int]]:
        """Mesh edges along the contours, dense point ``k`` being mesh vertex ``base + k``."""
        out = []
        for name, chain in self.chains.items():
            if name in EDGELESS:
                continue
            v = [_vertex(c, base) for c in chain]
            out += list(zip(v[:-1], v[1:]))
        return out

    def inner_sets(self, base: int) -> list[set]:
        """Vertex sets whose triangles may collapse: the inner lips (68 points), each eye with its
        iris points."""
        eyes = [set(warp.INNER_LIP)]
        for e, side in enumerate(("right", "left")):
            ring = {_vertex(c, base) for n in (f"{side}_upper", f"{side}_lower") for c in self.chains[n]}
            eyes.append(ring | {base + k for k in np.flatnonzero(self.eye == e).tolist()})
        return eyes

    def outline(self, lm: np.ndarray, dense: np.ndarray, region: str) -> np.ndarray:
        """Closed outline [n,2] of ``region`` (``right`` or ``left`` eye) from
        driven 68 points ``lm`` and dense points ``dense`` [K,2]: upper chain, lower chain back."""
        upper, lower = self.chain_points(lm, dense, f"{region}_upper"), self.chain_points(lm, dense, f"{region}_lower")
        return np.vstack([upper, lower[-2:0:-1]])

    def chain_points(self, lm: np.ndarray, dense: np.ndarray, name: str) -> np.ndarray:
        """The points [n,2] of one chain, corner to corner."""
        return np.vstack([lm, dense])[self.index[name]].astype(np.float64)


def loosen_irises(mesh: warp.Mesh, rig: DenseRig) -> warp.Mesh:
    """``mesh`` with its iris triangles never relaxed: where a closing lid squeezes them they only
    collapse (the eye's interior is then redrawn by :mod:`.eyes`), and the driven lid stays put."""
    base = len(mesh.src) - len(rig.ids)
    iris = np.zeros(len(mesh.src), bool)
    iris[base + np.flatnonzero(rig.group == IRIS_GROUP)] = True
    return replace(mesh, fold_limit=np.where(iris[mesh.triangles].any(axis=1), -np.inf, mesh.fold_limit))


def relax_mesh(mesh: warp.Mesh, n_plain: int) -> warp.Mesh:
    """``mesh`` (with dense points after its first ``n_plain`` vertices) as :func:`drive_vertices`
    relaxes it: only the dense points move."""
    none = np.empty(0, int)
    return replace(mesh, border=np.arange(n_plain), forehead=none, ring=none)


def drive_vertices(relax: warp.Mesh, rig: DenseRig, src_lm: np.ndarray, plain: np.ndarray,
                   head: np.ndarray) -> np.ndarray:
    """All vertices [V,2] of the dense mesh: ``plain``, the 68-point mesh's driven vertices and
    ``head`` its 2x3 affine (:func:`.warp.drive_points`: landmarks and anchors move exactly as
    without dense points), then the rig's points from those landmarks. A dense point of a triangle
    that is folded goes onto its 68-point segment (an edge of the 68-point mesh, where it folds
    nothing the 68 points do not), then a fold left is relaxed by moving dense points alone
    (``relax``: :func:`relax_mesh`)."""
    lm = plain[:warp.N_LM]
    drv = np.vstack([plain, drive(rig, src_lm, lm, head[:, :2])])
    bad = warp._signed_areas(drv, relax.triangles) < relax.fold_limit
    if bad.any():  # first put the points of folded triangles on their 68-point segment
        base = len(plain)
        k = warp._vertices_of(relax.triangles[bad], len(drv))
        k = k[k >= base] - base
        t = rig.t[k, None]
        drv[base + k] = (1.0 - t) * lm[rig.seg[k, 0]] + t * lm[rig.seg[k, 1]]
        warp._relax_folds(relax, drv)
    return drv


def _vertex(code: int, base: int) -> int:
    return code if code >= 0 else base - code - 1


def _project(p: np.ndarray, chain: np.ndarray) -> tuple[int, float, np.ndarray]:
    """Nearest point of the polyline ``chain`` [n,2] to ``p``: segment index, t in [0,1], offset."""
    a, b = chain[:-1], chain[1:]
    d = b - a
    length2 = np.maximum(np.einsum("ij,ij->i", d, d), 1e-12)
    t = np.clip(np.einsum("ij,ij->i", p - a, d) / length2, 0.0, 1.0)
    foot = a + t[:, None] * d
    k = int(np.argmin(np.hypot(*(p - foot).T)))
    return k, float(t[k]), p - foot[k]


class _Row(NamedTuple):
    """One dense point while the rig is built."""

    id: int
    pos: np.ndarray
    a: int
    b: int
    t: float
    offset: np.ndarray
    group: int
    eye: int
    chain: str
    key: float


def build_rig(lm: np.ndarray, dense: np.ndarray) -> DenseRig:
    """The rig of one portrait from its 68 and 478 crop-pixel points (deterministic)."""
    lm = np.asarray(lm, np.float64)
    dense = np.asarray(dense, np.float64)
    rows: list[_Row] = []
    for name, ids, chain, group in CONTOURS:
        for vid in ids:
            k, t, off = _project(dense[vid], lm[list(chain)])
            if name not in EDGELESS and (k + t <= 0.0 or k + t >= len(chain) - 1):
                continue  # beyond the chain's corner point: the 68 point is the corner
            rows.append(_Row(vid, dense[vid], chain[k], chain[k + 1], t, off, group, -1, name, k + t))
    for e in range(2):
        rows += _iris_rows(lm, dense, e)
    layout = _layout_positions(lm, rows)
    keep = warp._keep_apart(layout, lm, MIN_DIST)
    rows = [rows[i] for i in keep]
    chains = {}
    for name, _, chain, _ in CONTOURS:
        members = sorted((r.key, -(i + 1)) for i, r in enumerate(rows) if r.chain == name)
        anchors = [(float(j), c) for j, c in enumerate(chain)]
        chains[name] = tuple(c for _, c in sorted(anchors + members, key=lambda x: x[0]))
    return DenseRig(ids=np.array([r.id for r in rows], int), src=np.array([r.pos for r in rows]).reshape(-1, 2),
                    seg=np.array([(r.a, r.b) for r in rows], int).reshape(-1, 2),
                    t=np.array([r.t for r in rows]), offset=np.array([r.offset for r in rows]).reshape(-1, 2),
                    group=np.array([r.group for r in rows], int), eye=np.array([r.eye for r in rows], int),
                    chains=chains, layout=layout[keep].reshape(-1, 2),
                    index={n: np.array([_vertex(c, warp.N_LM) for c in ch], int) for n, ch in chains.items()})


def _iris_rows(lm: np.ndarray, dense: np.ndarray, eye: int) -> list[_Row]:
    """The iris points of one eye inside its source outline: MediaPipe's centre and ring points and
    two points :data:`IRIS_INNER` of the way to its top and bottom (id -1; the iris's top and
    bottom themselves are mostly under the lids), so the visible disc moves as one."""
    a, b = EYE_CORNERS[eye]
    ring = _source_eye_outline(lm, dense, eye).astype(np.float32)
    centre, _, top, _, bottom = IRISES[eye]
    cands = [(vid, dense[vid]) for vid in IRISES[eye]]
    cands += [(-1, dense[centre] + IRIS_INNER * (dense[v] - dense[centre])) for v in (top, bottom)]
    return [_Row(vid, p, a, b, 0.0, np.zeros(2), IRIS_GROUP, eye, "", 0.0) for vid, p in cands
            if cv2.pointPolygonTest(ring, (float(p[0]), float(p[1])), True) >= IRIS_MARGIN]


def _source_eye_outline(lm: np.ndarray, dense: np.ndarray, eye: int) -> np.ndarray:
    """The source eye's outline from the dense contour (upper, then lower back)."""
    side = ("right", "left")[eye]
    up = next(ids for n, ids, _, _ in CONTOURS if n == f"{side}_upper")
    low = next(ids for n, ids, _, _ in CONTOURS if n == f"{side}_lower")
    return np.vstack([dense[list(up)], dense[list(low[-2:0:-1])]])


def _layout_positions(lm: np.ndarray, rows: list[_Row]) -> np.ndarray:
    """Where the dense points sit in the mesh's opened layout (mouth and eyes held open; the
    irises stay where they are, the lids open around them)."""
    opened = warp._opened(lm)
    return np.array([r.pos if r.group == IRIS_GROUP else opened[r.a] * (1 - r.t) + opened[r.b] * r.t + r.offset
                     for r in rows]).reshape(-1, 2)


def drive(rig: DenseRig, src_lm: np.ndarray, drv_lm: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """Driven dense points [K,2] for driven 68 points ``drv_lm`` and the head's 2x2 ``linear`` part."""
    a, b = rig.seg[:, 0], rig.seg[:, 1]
    t = rig.t[:, None]
    scale = _factors(src_lm, drv_lm)
    out = (1.0 - t) * drv_lm[a] + t * drv_lm[b] + scale[np.minimum(rig.group, 2), None] * (rig.offset @ linear.T)
    for eye in (0, 1):
        _drive_eye(rig, src_lm, drv_lm, out, eye)
    return out


def _factors(src_lm: np.ndarray, drv_lm: np.ndarray) -> np.ndarray:
    """Offset scale per group: 1; the right and left eye's opening ratio (0..1.5)."""
    up, low = LID_PAIRS[:, :, 0], LID_PAIRS[:, :, 1]
    src_open = np.linalg.norm(src_lm[low] - src_lm[up], axis=-1).mean(axis=1)  # [2], one per eye
    drv_open = np.linalg.norm(drv_lm[low] - drv_lm[up], axis=-1).mean(axis=1)
    return np.concatenate([[1.0], np.clip(drv_open / np.maximum(src_open, 1e-6), 0.0, 1.5)])


def _drive_eye(rig: DenseRig, src_lm: np.ndarray, drv_lm: np.ndarray, dense: np.ndarray, eye: int) -> None:
    """In place on ``dense``: the eye's upper-lid points moved up to :data:`MIN_LID_GAP` above the
    lower lid, its iris points carried by the eye corners' similarity and kept
    :data:`IRIS_MARGIN` inside the lids (at their middle where the lids are closer than that)."""
    a, b = EYE_CORNERS[eye]
    side = ("right", "left")[eye]
    origin = drv_lm[a]
    ux = (drv_lm[b] - origin) / (float(np.hypot(*(drv_lm[b] - origin))) or 1.0)
    uy = np.array([-ux[1], ux[0]])
    both = np.vstack([drv_lm, dense])
    lower, upper = _profile(both[rig.index[f"{side}_lower"]] - origin, ux, uy), rig.index[f"{side}_upper"]
    ks = upper[upper >= warp.N_LM] - warp.N_LM
    rel = dense[ks] - origin
    over = rel @ uy - (np.interp(rel @ ux, *lower) - MIN_LID_GAP)
    dense[ks] -= np.maximum(over, 0.0)[:, None] * uy
    iris = np.flatnonzero((rig.group == IRIS_GROUP) & (rig.eye == eye))
    if not len(iris):
        return
    both[warp.N_LM:] = dense
    top = _profile(both[upper] - origin, ux, uy)
    s0, d0 = complex(*(src_lm[b] - src_lm[a])), complex(*(drv_lm[b] - origin))
    z = d0 / s0 if abs(s0) > 1e-9 else 1.0
    q = z * ((rig.src[iris] - src_lm[a]) @ np.array([1.0, 1j]))
    p = np.stack([q.real, q.imag], axis=1)  # relative to the driven outer corner
    s, t = p @ ux, p @ uy
    lo, hi = np.interp(s, *top) + IRIS_MARGIN, np.interp(s, *lower) - IRIS_MARGIN
    t_new = np.where(lo > hi, 0.5 * (lo + hi), np.clip(t, lo, np.maximum(lo, hi)))
    dense[iris] = origin + p + (t_new - t)[:, None] * uy


def _profile(rel: np.ndarray, ux: np.ndarray, uy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A lid's points (relative to the eye's corner) as sorted positions along ``ux`` and heights along ``uy``."""
    ps, pt = rel @ ux, rel @ uy
    order = np.argsort(ps, kind="stable")
    return ps[order], pt[order]
