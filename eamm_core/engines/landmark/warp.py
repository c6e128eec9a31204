"""Dense backward warp of the portrait crop driven by moved 68-point landmarks.

The field is piecewise affine on a triangle mesh over the 68 landmarks plus anchors:

* **forehead** points above the brows that follow the head (an affine fitted on landmarks that
  speech and expressions hardly move: temples, nose, eye corners);
* a **head ring** around face and hair that follows the head partly (less near the crop border);
* the **crop border**, fixed, so the background and the corners of the crop never move.

The mesh is a Delaunay triangulation of the source points with the mouth and eyes held open
(so the inner-lip and eye polygons are triangulated on their own and a closed source mouth gives
degenerate source triangles: warping the lips apart maps the gap onto the lip line instead of
smearing lip pixels across it); the lip, eye and jaw outlines are enforced as mesh edges.

Per frame: anchors are driven, crossings of lips/lids are clamped, any triangle the driven shape
would turn inside out is relaxed (Laplacian smoothing of the displacement of its vertices; a nose
turned past its wing may stay folded and is drawn last, covering the cheek), each upright
driven triangle is rasterised into a triangle-id image (``cv2.fillConvexPoly``) and the backward
map ``source = A[id] @ (x, y, 1)`` is gathered. The displacement is then smoothed outside the eyes,
mouth and nose (the renderer's "sharp" polygons; a Gaussian on the displacement keeps affine motion exact and removes the creases of
the piecewise-affine field along mesh edges) and ``cv2.remap`` resamples the source.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIZE = 256
N_LM = 68
#: landmarks that speech and expressions hardly move: the head's rigid motion is fitted on them
STABLE = np.array([0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45])
INNER_LIP = list(range(60, 68))
OUTER_LIP = list(range(48, 60))
RIGHT_EYE = list(range(36, 42))
LEFT_EYE = list(range(42, 48))
JAW = list(range(0, 17))
NOSE = list(range(27, 36))
#: (upper, lower) landmark pairs that must not cross: inner lips, then eyelids
LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
#: fraction of the head's motion the ring around the head follows (hair moves, background less)
RING_FOLLOW = 0.6
#: distance (px) from the crop border over which the ring's motion fades to zero
RING_BORDER_FADE = 40.0
BORDER_STEP = 32
#: Gaussian sigma (px) of the displacement smoothing outside eyes and mouth
SMOOTH_SIGMA = 3.0
#: a lighter smoothing (px) inside eyes and mouth: rounds the corners of the lip polygon
SHARP_SIGMA = 1.2


@dataclass(frozen=True)
class Mesh:
    """Triangle mesh of one portrait. ``src`` [V,2] float64: 68 landmarks, then forehead, ring and
    border anchors (index ranges ``forehead``, ``ring``, ``border``). ``triangles`` [F,3] int32,
    counter-clockwise in the (opened) layout; ``collapsible`` [F] bool marks triangles inside the
    inner lips or an eye, which may shrink to nothing. ``neighbours``: per vertex, adjacent vertices;
    ``nb_index`` [V,D] the same padded with ``V`` (a zero row appended to the displacement) and
    ``nb_count`` [V] their numbers, for the vectorised fold relaxation; ``fold_limit`` [F] the signed
    area below which a driven triangle counts as folded; ``head_fit`` [3,17] the least-squares
    solve of :func:`fit_affine` for the ``STABLE`` source landmarks (the same for every frame)."""

    src: np.ndarray
    triangles: np.ndarray
    collapsible: np.ndarray
    ref_area: np.ndarray
    forehead: np.ndarray
    ring: np.ndarray
    ring_weight: np.ndarray
    border: np.ndarray
    neighbours: tuple
    nb_index: np.ndarray
    nb_count: np.ndarray
    fold_limit: np.ndarray
    head_fit: np.ndarray


def face_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Unit x (subject's right eye -> left eye, image right), unit y (down) and inter-ocular distance."""
    el, er = lm[RIGHT_EYE].mean(0), lm[LEFT_EYE].mean(0)
    d = er - el
    iod = float(np.hypot(*d)) or 1.0
    ex = d / iod
    return ex, np.array([-ex[1], ex[0]]), iod


def _forehead_points(lm: np.ndarray) -> np.ndarray:
    ex, ey, iod = face_frame(lm)
    brows = lm[[17, 19, 21, 22, 24, 26]]
    mid = 0.5 * (lm[21] + lm[22])
    base = np.vstack([brows, mid[None]])
    return np.vstack([base - 0.45 * iod * ey, base - 0.95 * iod * ey])


def _ring_points(lm: np.ndarray, n: int = 20) -> np.ndarray:
    ex, ey, iod = face_frame(lm)
    chin = lm[8]
    top = 0.5 * (lm[21] + lm[22]) - 1.5 * iod * ey
    centre = 0.5 * (chin + top)
    ry = 0.5 * float(np.hypot(*(chin - top))) * 1.2
    rx = 0.5 * float(np.hypot(*(lm[16] - lm[0]))) * 1.4
    ang = np.arange(n) * (2 * np.pi / n)
    return centre + np.outer(rx * np.cos(ang), ex) + np.outer(ry * np.sin(ang), ey)


def _border_points() -> np.ndarray:
    """Fixed points just outside the crop (every ``BORDER_STEP`` px) so every pixel is covered."""
    lo, hi = -1.0, float(SIZE)
    ticks = [lo] + list(range(BORDER_STEP, SIZE, BORDER_STEP)) + [hi]
    pts = {(float(t), e) for t in ticks for e in (lo, hi)} | {(e, float(t)) for t in ticks for e in (lo, hi)}
    return np.array(sorted(pts), np.float64)


def _opened(lm: np.ndarray) -> np.ndarray:
    """The landmarks with mouth and eyes held open (topology only)."""
    out = lm.copy()
    ex, ey, iod = face_frame(lm)
    for up, low, o_up, o_low in ((61, 67, 50, 58), (62, 66, 51, 57), (63, 65, 52, 56)):
        gap = float((out[low] - out[up]) @ ey)
        need = 0.08 * iod - gap
        if need > 0:
            out[up] -= 0.5 * need * ey
            out[low] += 0.5 * need * ey
        d_up = float((out[up] - lm[o_up]) @ ey)  # inner upper lip stays below the outer one
        if d_up < 0.02 * iod:
            out[up] += (0.02 * iod - d_up) * ey
        d_low = float((lm[o_low] - out[low]) @ ey)
        if d_low < 0.02 * iod:
            out[low] -= (0.02 * iod - d_low) * ey
    for up, low in LID_PAIRS:
        gap = float((out[low] - out[up]) @ ey)
        if gap < 0.1 * iod:
            out[up] -= (0.1 * iod - gap) * ey
    return out


def _keep_apart(points: np.ndarray, fixed: np.ndarray, min_dist: float) -> np.ndarray:
    """Indices of ``points`` farther than ``min_dist`` from ``fixed`` and from each kept point."""
    keep: list[int] = []
    for i, p in enumerate(points):
        others = np.vstack([fixed] + [points[keep]] if keep else [fixed])
        if np.min(np.hypot(*(others - p).T)) > min_dist:
            keep.append(i)
    return np.array(keep, dtype=int)


def build_mesh(landmarks_px: np.ndarray, triangles: np.ndarray | None = None, dense=None) -> Mesh:
    """The mesh of one portrait from its 68 crop-pixel landmarks (deterministic). ``triangles``:
    the ``Mesh.triangles`` of an earlier mesh of the same landmarks (a cached triangulation: the
    same mesh without the Delaunay step and its scipy import); raises ``ValueError`` if they do
    not fit these landmarks' vertices. ``dense``: a :class:`.dense_mesh.DenseRig` whose points
    join the mesh after the border anchors, its contours replacing the 68-point eye outlines."""
    lm = np.asarray(landmarks_px, np.float64).reshape(N_LM, 2)
    fore = _forehead_points(lm)
    fore = fore[np.all((fore > 4) & (fore < SIZE - 5), axis=1)]
    fore = fore[_keep_apart(fore, lm, 6.0)]
    ring = np.clip(_ring_points(lm), 10.0, SIZE - 11.0)
    ring = ring[_keep_apart(ring, np.vstack([lm, fore]), 12.0)]
    border = _border_points()
    src = np.vstack([lm, fore, ring, border])
    n_f, n_r = len(fore), len(ring)
    idx_f = np.arange(N_LM, N_LM + n_f)
    idx_r = np.arange(N_LM + n_f, N_LM + n_f + n_r)
    idx_b = np.arange(N_LM + n_f + n_r, len(src))
    layout = src.copy()
    layout[:N_LM] = _opened(lm)
    edges, inner = _required_edges(), [set(INNER_LIP), set(RIGHT_EYE), set(LEFT_EYE)]
    if dense is not None:
        edges = [e for e in edges if not {*e} <= {*RIGHT_EYE, *LEFT_EYE}] + dense.edges(len(src))
        inner = dense.inner_sets(len(src))
        src, layout = np.vstack([src, dense.src]), np.vstack([layout, dense.layout])
    tris = _triangulate(layout, edges) if triangles is None else _checked_triangles(triangles, len(src))
    # rasterised in this order, later wins: the triangles inside the lips and eyes first (squeezed
    # to slivers, their edge pixels would extrapolate far into the source), the nose last (where a
    # turn folds it over the cheek, beyond about 25 deg of yaw, the nose is nearer the camera)
    inside = np.array([any(set(t) <= s for s in inner) for t in tris.tolist()], bool)
    order = np.argsort(np.where(inside, 0, 1 + _flags(len(src), NOSE)[tris].any(axis=1)), kind="stable")
    tris, collapsible = tris[order], inside[order]
    areas = _signed_areas(layout, tris)
    dist = np.minimum.reduce([src[idx_r, 0] + 1, src[idx_r, 1] + 1, SIZE - src[idx_r, 0], SIZE - src[idx_r, 1]])
    ring_w = RING_FOLLOW * np.clip(dist / RING_BORDER_FADE, 0.0, 1.0)
    nbs = _neighbours(tris, len(src))
    nb_index = np.full((len(src), max(len(n) for n in nbs)), len(src), dtype=np.intp)
    for v, n in enumerate(nbs):
        nb_index[v, :len(n)] = n
    return Mesh(src=src, triangles=tris, collapsible=collapsible, ref_area=areas, forehead=idx_f,
                ring=idx_r, ring_weight=ring_w, border=idx_b, neighbours=nbs, nb_index=nb_index,
                nb_count=np.array([max(len(n), 1) for n in nbs], np.float64),
                fold_limit=np.where(collapsible, -1e-6, 0.02 * areas), head_fit=_fit_matrix(src[STABLE]))


def _checked_triangles(triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    tris = np.asarray(triangles)
    if (tris.ndim != 2 or tris.shape[1] != 3 or len(tris) == 0 or not np.issubdtype(tris.dtype, np.integer)
            or tris.min() < 0 or tris.max() >= n_vertices):
        raise ValueError(f"triangles {tris.dtype} {tris.shape} do not fit a mesh of {n_vertices} vertices")
    return tris.astype(np.int32)


def _flags(n: int, indices) -> np.ndarray:
    """[n] bool, True at ``indices``."""
    out = np.zeros(n, bool)
    out[indices] = True
    return out


def _vertices_of(tris: np.ndarray, n: int) -> np.ndarray:
    """The sorted distinct vertex indices of ``tris`` ([k,3] of a mesh of ``n`` vertices): the
    values of ``np.unique(tris)``, without the ``numpy.ma`` import its first call costs (start-up time)."""
    return np.flatnonzero(_flags(n, tris.ravel()))


def _signed_areas(pts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    a, b, c = pts[tris[:, 0]], pts[tris[:, 1]], pts[tris[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def _neighbours(tris: np.ndarray, n: int) -> tuple:
    nb: list[set] = [set() for _ in range(n)]
    for a, b, c in tris.tolist():
        nb[a] |= {b, c}
        nb[b] |= {a, c}
        nb[c] |= {a, b}
    return tuple(np.array(sorted(s), dtype=int) for s in nb)


def _required_edges() -> list[tuple[int, int]]:
    edges = []
    for ring in (INNER_LIP, OUTER_LIP, RIGHT_EYE, LEFT_EYE):
        edges += [(ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))]
    edges += [(JAW[i], JAW[i + 1]) for i in range(len(JAW) - 1)]
    return edges


def _triangulate(layout: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """Delaunay on ``layout``, counter-clockwise, with the lip/eye/jaw outlines forced in as edges."""
    from scipy.spatial import Delaunay  # here: a job with a cached triangulation never imports scipy

    tris = Delaunay(layout).simplices.astype(np.int64)
    area = _signed_areas(layout, tris)
    tris[area < 0] = tris[area < 0][:, [0, 2, 1]]
    tri_list = [list(t) for t in tris.tolist()]
    for a, b in edges:
        _force_edge(layout, tri_list, a, b)
    out = np.array(tri_list, dtype=np.int32)
    keep = np.abs(_signed_areas(layout, out)) > 1e-9
    return out[keep]


def _orient(p, q, r) -> float:
    return float((q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]))


def _crosses(pts, a, b, c, d) -> bool:
    if len({a, b, c, d}) < 4:
        return False
    pa, pb, pc, pd = pts[a], pts[b], pts[c], pts[d]
    return (_orient(pa, pb, pc) * _orient(pa, pb, pd) < 0) and (_orient(pc, pd, pa) * _orient(pc, pd, pb) < 0)


def _edges_of(tri_list) -> set:
    return {tuple(sorted((t[i], t[(i + 1) % 3]))) for t in tri_list for i in range(3)}


def _force_edge(pts: np.ndarray, tri_list: list, a: int, b: int, max_iter: int = 200) -> None:
    """Make (a, b) an edge of the triangulation by flipping the edges that cross it (Sloan 1993)."""
    for _ in range(max_iter):
        edges = _edges_of(tri_list)
        if tuple(sorted((a, b))) in edges:
            return
        crossing = [e for e in sorted(edges) if _crosses(pts, a, b, e[0], e[1])]
        flipped = False
        for u, v in crossing:
            if _flip(pts, tri_list, u, v):
                flipped = True
                break
        if not flipped:
            return


def _flip(pts: np.ndarray, tri_list: list, u: int, v: int) -> bool:
    """Flip edge (u, v) shared by two triangles when their quadrilateral is convex."""
    pair = [i for i, t in enumerate(tri_list) if u in t and v in t]
    if len(pair) != 2:
        return False
    t1, t2 = tri_list[pair[0]], tri_list[pair[1]]
    p = next(x for x in t1 if x not in (u, v))
    q = next(x for x in t2 if x not in (u, v))
    # the quad p-u-q-v is convex when p and q lie on opposite sides of uv and u, v on opposite sides of pq
    if not (_orient(pts[u], pts[v], pts[p]) * _orient(pts[u], pts[v], pts[q]) < 0
            and _orient(pts[p], pts[q], pts[u]) * _orient(pts[p], pts[q], pts[v]) < 0):
        return False
    new = [[p, q, u], [q, p, v]]
    for t in new:
        if _orient(pts[t[0]], pts[t[1]], pts[t[2]]) < 0:
            t[1], t[2] = t[2], t[1]
    tri_list[pair[0]], tri_list[pair[1]] = new
    return True


def _fit_matrix(src: np.ndarray) -> np.ndarray:
    """[3,N]: ``_fit_matrix(src) @ dst`` is the least-squares affine (transposed) taking ``src`` onto ``dst``."""
    a = np.hstack([src, np.ones((len(src), 1))])
    return np.linalg.solve(a.T @ a + 1e-9 * np.eye(3), a.T)


def fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 affine taking ``src`` [N,2] onto ``dst`` [N,2]."""
    return (_fit_matrix(src) @ dst).T


def drive_points(mesh: Mesh, drv_lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All mesh vertices [V,2] for driven landmarks (anchors follow the head, the border stays;
    crossed lips/lids clamped, folds relaxed) and the head's 2x3 affine (source -> driven)."""
    src = mesh.src
    drv = src.copy()
    drv[:N_LM] = drv_lm
    head = (mesh.head_fit @ drv[STABLE]).T
    moved = src @ head[:, :2].T + head[:, 2]
    drv[mesh.forehead] = moved[mesh.forehead]
    w = mesh.ring_weight[:, None]
    drv[mesh.ring] = src[mesh.ring] + w * (moved[mesh.ring] - src[mesh.ring])
    _unclash(drv)
    _relax_folds(mesh, drv)
    return drv, head


def _unclash(drv: np.ndarray) -> None:
    """Lips and lids that cross are clamped: crossed inner lips meet halfway, a lid stops at the other."""
    ex, ey, _ = face_frame(drv[:N_LM])
    for up, low in LIP_PAIRS:
        if float((drv[up] - drv[low]) @ ey) > 0:
            drv[up] = drv[low] = 0.5 * (drv[up] + drv[low])
    for up, low in LID_PAIRS:
        over = float((drv[up] - drv[low]) @ ey)
        if over > 0:
            drv[up] -= over * ey


def _relax_folds(mesh: Mesh, drv: np.ndarray, iterations: int = 60, settled: float = 1e-5) -> None:
    """Smooth the displacement of vertices of inverted triangles until none is inverted.

    Anchors give way first (the driven landmarks are what the motion asked for); landmarks are
    relaxed only when moving anchors is not enough (e.g. a chin driven past the crop border).
    Each step is a Jacobi update (every relaxed vertex moves halfway to its neighbours' mean
    displacement, all from the same previous state). A fold the relaxation cannot undo (e.g. a
    smile lifting the mouth corner above the upper lip's first point: the driven shape itself is
    folded there) converges geometrically to a fixed state; once no vertex moves by ``settled`` px
    the remaining steps of that phase would change nothing visible and are skipped. When the same
    landmarks are relaxed twice in a row, the state the steps converge to is solved for directly
    (:func:`_fixed_point`) and taken if the fold is still there (the steps would only creep toward
    it); if it would undo the fold, the steps go on (they may undo it sooner, elsewhere)."""
    tris, limit = mesh.triangles, mesh.fold_limit
    bad = _signed_areas(drv, tris) < limit
    if not bad.any():
        return
    n = len(drv)
    fixed = np.zeros(n, bool)
    fixed[mesh.border] = True
    anchor = np.zeros(n, bool)
    anchor[N_LM:] = True
    inner = np.concatenate([mesh.forehead, mesh.ring])
    src = mesh.src
    disp = np.zeros((n + 1, 2))  # row n stays zero: the padding of ``nb_index``
    half, it, prev = iterations // 2, 0, None
    while it < iterations:
        if it:
            bad = _signed_areas(drv, tris) < limit
            if not bad.any():
                return
        verts = _vertices_of(tris[bad], n)
        verts = verts[~fixed[verts]]
        if prev is not None and len(verts) and not anchor[verts].any() and np.array_equal(verts, prev):
            if _settle_at_fixed_point(mesh, drv, verts, fixed):
                return
            prev = np.empty(0, int)  # solved once: step from here on
        elif prev is None or len(prev):
            prev = verts
        anchors_only = it < half and anchor[verts].any()
        if anchors_only:
            verts = verts[anchor[verts]]
        np.subtract(drv, src, out=disp[:n])
        mean = np.add.reduce(disp[mesh.nb_index[verts]], axis=1) / mesh.nb_count[verts, None]
        new = src[verts] + 0.5 * disp[verts] + 0.5 * mean
        step = float(np.abs(new - drv[verts]).max()) if len(verts) else 0.0
        drv[verts] = new
        drv[inner] = np.clip(drv[inner], 2.0, SIZE - 3.0)
        it += 1
        if step < settled:
            if not anchors_only:
                return
            it = max(it, half)


def _settle_at_fixed_point(mesh: Mesh, drv: np.ndarray, verts: np.ndarray, fixed: np.ndarray) -> bool:
    """Move ``verts`` (landmarks) to where the relaxation steps on them converge, in place, if the
    same vertices are still to be relaxed there; False (``drv`` unchanged) otherwise."""
    disp = _fixed_point(mesh, drv, verts)
    if disp is None:
        return False
    trial = drv.copy()
    trial[verts] = mesh.src[verts] + disp
    bad = _signed_areas(trial, mesh.triangles) < mesh.fold_limit
    left = _vertices_of(mesh.triangles[bad], len(drv))
    if not bad.any() or not np.array_equal(left[~fixed[left]], verts):
        return False
    drv[verts] = trial[verts]
    return True


def _fixed_point(mesh: Mesh, drv: np.ndarray, verts: np.ndarray) -> np.ndarray | None:
    """Displacements [k,2] of ``verts`` with each equal to its neighbours' mean (the fixed point
    of the relaxation step), the other vertices held: ``(I - M_ss) d_s = M_so d_o``."""
    n, k = len(drv), len(verts)
    rows = np.repeat(np.arange(k), mesh.nb_index.shape[1])
    cols = mesh.nb_index[verts].ravel()
    m = np.zeros((k, n + 1))
    np.add.at(m, (rows, cols), 1.0 / np.repeat(mesh.nb_count[verts], mesh.nb_index.shape[1]))
    m = m[:, :n]
    disp = drv - mesh.src
    disp[verts] = 0.0
    try:
        out = np.linalg.solve(np.eye(k) - m[:, verts], m @ disp)
    except np.linalg.LinAlgError:
        return None
    return out if np.all(np.isfinite(out)) else None


def gaussian_ksize(sigma: float) -> int:
    """The kernel size ``cv2.GaussianBlur`` picks for float images when given ``(0, 0)``."""
    return int(round(sigma * 8 + 1)) | 1


class WarpField:
    """Backward map builder for one mesh; reuses its buffers (not thread-safe: one per thread).

    Per frame: the triangle-id image (uint8 while the mesh has under 256 triangles, so the
    per-triangle coefficients are gathered with ``cv2.LUT``), the displacement from the affine
    coefficients, one 2-channel Gaussian over the whole crop (at half resolution, :meth:`_blur`)
    and the lighter smoothing blended in
    only inside the box around the sharp polygons (outside it their weight is exactly zero)."""

    def __init__(self, mesh: Mesh, smooth_sigma: float = SMOOTH_SIGMA):
        self.mesh = mesh
        self.sigma = float(smooth_sigma)
        self._half_sigma = max(self.sigma ** 2 - 0.25, 1e-6) ** 0.5 / 2
        ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        self.gx, self.gy = xs, ys
        self.grid = np.ascontiguousarray(np.dstack([xs, ys]))
        self._grid_scaled, self._grid_scale = self.grid, 1.0
        n = len(mesh.triangles)
        self.lut = n < 256  # ids 0..n-1 and n (no triangle) fit in uint8
        self.tid = np.empty((SIZE, SIZE), np.uint8 if self.lut else np.int32)
        self.coef = np.zeros((6, 256 if self.lut else n + 1), np.float32)  # column n: no displacement
        self.disp = np.empty((SIZE, SIZE, 2), np.float32)
        self.tmp = np.empty((SIZE, SIZE), np.float32)
        self.tmp2 = np.empty((SIZE, SIZE), np.float32)

    def affines(self, drv: np.ndarray) -> np.ndarray:
        """Per triangle 2x3 affine (flattened [F,6]) taking driven to source; NaN where degenerate."""
        coef, ok = self._displacement_coefs(drv)
        out = coef.T.astype(np.float64)
        out[:, 0] += 1.0
        out[:, 4] += 1.0
        out[~ok] = np.nan
        return out

    def _displacement_coefs(self, drv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[6,F] coefficients (ax, bx, cx, ay, by, cy) of the displacement ``source - x`` on each
        driven triangle (linear there: the vertices' own displacements interpolated) and [F] bool
        for the non-degenerate triangles (the others get zeros)."""
        tris = self.mesh.triangles
        d = drv[tris]  # [F,3,2]
        u = self.mesh.src[tris] - d
        e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
        det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        ok = np.abs(det) > 1e-6
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        du1, du2 = u[:, 1] - u[:, 0], u[:, 2] - u[:, 0]  # [F,2]
        a = (du1 * e2[:, 1, None] - du2 * e1[:, 1, None]) * inv[:, None]
        b = (du2 * e1[:, 0, None] - du1 * e2[:, 0, None]) * inv[:, None]
        c = np.where(ok[:, None], u[:, 0] - a * d[:, 0, 0, None] - b * d[:, 0, 1, None], 0.0)
        return np.stack([a[:, 0], b[:, 0], c[:, 0], a[:, 1], b[:, 1], c[:, 1]]), ok

    def compute(self, drv: np.ndarray, sharp_polys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Backward maps (map_x, map_y) float32 [256,256] for driven mesh vertices ``drv`` [V,2].
        ``sharp_polys``: driven polygons (eyes, mouth) where the displacement is not smoothed."""
        m = self.compute_map(drv, sharp_polys)
        return m[..., 0], m[..., 1]

    def compute_map(self, drv: np.ndarray, sharp_polys: list[np.ndarray], *, scale: float = 1.0) -> np.ndarray:
        """The backward map as one float32 [256,256,2] array (``cv2.remap``'s 2-channel form), in
        source pixels times ``scale`` (a supersampled source is sampled at ``scale`` x the coordinates)."""
        disp = self.displacement(drv, sharp_polys)
        if scale == 1.0:
            return disp + self.grid
        if self._grid_scale != scale:
            self._grid_scaled, self._grid_scale = self.grid * np.float32(scale), scale
        return cv2.scaleAdd(disp, scale, self._grid_scaled)  # scale * disp + scale * grid in one pass

    def displacement(self, drv: np.ndarray, sharp_polys: list[np.ndarray]) -> np.ndarray:
        """The smoothed backward displacement float32 [256,256,2] (source minus target, crop pixels)."""
        self._displacement(drv)
        return self._smooth(self.disp, sharp_polys) if self.sigma > 0 else self.disp

    def _displacement(self, drv: np.ndarray) -> None:
        """The piecewise-affine displacement into ``self.disp``."""
        tris = self.mesh.triangles
        n = len(tris)
        coef, ok = self._displacement_coefs(drv)
        self.coef[:, :n] = coef
        self.tid.fill(n)
        area = _signed_areas(drv, tris)
        pts16 = np.round(drv * 16.0).astype(np.int32)[tris]
        for f in np.flatnonzero(ok & (area > 1e-3)).tolist():
            cv2.fillConvexPoly(self.tid, pts16[f], f, cv2.LINE_8, 4)
        tmp, tmp2 = self.tmp, self.tmp2
        for k in (0, 1):
            self._gather(3 * k, tmp)
            np.multiply(tmp, self.gx, out=tmp)
            self._gather(3 * k + 1, tmp2)
            tmp2 *= self.gy
            tmp += tmp2
            self._gather(3 * k + 2, tmp2)
            np.add(tmp, tmp2, out=self.disp[..., k])

    def _gather(self, k: int, out: np.ndarray) -> None:
        if self.lut:
            res = cv2.LUT(self.tid, self.coef[k].reshape(256, 1), dst=out)
            if res is not out:  # an OpenCV that did not write into ``dst``
                out[...] = res.reshape(out.shape)
        else:
            np.take(self.coef[k], self.tid.ravel(), out=out.ravel())

    def _blur(self, disp: np.ndarray) -> np.ndarray:
        """The Gaussian (sigma ``self.sigma``) of ``disp``, computed at half resolution: the mean of
        each 2x2 block, a Gaussian of sigma sqrt(sigma^2 - 1/4) / 2 (the block mean is itself a 2-px
        box, variance 1/4) and a bilinear upsampling. The smoothed field varies slowly at this scale:
        frames within ~60 dB PSNR of the full-resolution Gaussian's, at 40 % of its cost."""
        half = cv2.resize(disp, (SIZE // 2, SIZE // 2), interpolation=cv2.INTER_AREA)
        k = gaussian_ksize(self._half_sigma)
        half = cv2.GaussianBlur(half, (k, k), self._half_sigma, borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(half, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)

    def _smooth(self, disp: np.ndarray, sharp_polys: list[np.ndarray]) -> np.ndarray:
        k = gaussian_ksize(self.sigma)
        smooth = self._blur(disp)
        if not sharp_polys:
            return smooth
        pts = [np.round(np.asarray(p, np.float64) * 16).astype(np.int32) for p in sharp_polys]
        lo = np.min([p.min(0) for p in pts], axis=0) // 16 - 2 - k // 2
        hi = np.max([p.max(0) for p in pts], axis=0) // 16 + 3 + k // 2
        x0, y0 = np.maximum(lo, 0)
        x1, y1 = np.minimum(hi, SIZE)
        if x1 <= x0 or y1 <= y0:
            return smooth
        sharp = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(sharp, [p - 16 * np.array([x0, y0], np.int32) for p in pts], 1.0, cv2.LINE_AA, 4)
        w = cv2.GaussianBlur(sharp, (k, k), self.sigma)  # zero within k//2 of the box's inner edges
        np.clip(w * 1.5, 0.0, 1.0, out=w)
        region = smooth[y0:y1, x0:x1]
        if SHARP_SIGMA > 0:
            ks = gaussian_ksize(SHARP_SIGMA)
            r = ks // 2
            px0, py0, px1, py1 = max(x0 - r, 0), max(y0 - r, 0), min(x1 + r, SIZE), min(y1 + r, SIZE)
            light = cv2.GaussianBlur(disp[py0:py1, px0:px1], (ks, ks), SHARP_SIGMA, borderType=cv2.BORDER_REPLICATE)
            light = light[y0 - py0:y1 - py0, x0 - px0:x1 - px0]
        else:
            light = disp[y0:y1, x0:x1]
        light = light - region  # (in place on a copy: ``light`` may be a view of ``disp``)
        light *= w[..., None]
        region += light
        return smooth
