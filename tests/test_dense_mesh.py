"""The landmark engine on MediaPipe's dense mesh (issue 20, item 2): dense lid contours follow the
driven lids, the irises keep their place through a blink and stay round when the lids open wide,
the dense points survive the crop cache, a wide-open mouth leaves no folded triangle, and a
68-point crop never takes the dense path."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import portrait_path

from eamm_core.engines.landmark import dense_mesh, warp
from eamm_core.engines.landmark.render import LandmarkRenderer

needs_mediapipe = pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                                     reason="the mediapipe478 landmark model needs mediapipe (requirements/nodeps.txt)")
#: lid pairs of the 68 points (upper, lower)
LIDS = ((37, 41), (38, 40), (43, 47), (44, 46))


@pytest.fixture(scope="module")
def crop60():
    if importlib.util.find_spec("mediapipe") is None:
        pytest.skip("the mediapipe478 landmark model needs mediapipe (requirements/nodeps.txt)")
    from eamm_core.prepare.portrait import load_portrait

    return load_portrait(portrait_path("60.png"), landmarks="mediapipe478")


def _open_mouth(src: np.ndarray, amount: float) -> np.ndarray:
    """The 68 points with the jaw dropped ``amount`` px (lower lip and chin) and the upper lip raised a little."""
    drv = src.copy()
    drv[[5, 6, 7, 8, 9, 10, 11, 56, 57, 58, 65, 66, 67]] += (0.0, amount)
    drv[[4, 12, 55, 59, 60, 64]] += (0.0, amount / 3)
    drv[[50, 51, 52, 61, 62, 63]] += (0.0, -amount / 6)
    return drv


def _blink(src: np.ndarray, closure: float) -> np.ndarray:
    """The 68 points with both upper lids ``closure`` of the way down to the lower lids."""
    drv = src.copy()
    for up, low in LIDS:
        drv[up] += closure * (drv[low] - drv[up])
    return drv


def _similar(sa, sb, da, db, p) -> np.ndarray:
    """``p`` moved by the similarity taking the segment sa-sb onto da-db."""
    m, _ = cv2.estimateAffinePartial2D(np.array([sa, sb], np.float32), np.array([da, db], np.float32))
    return m[:, :2] @ p + m[:, 2]


def _distance_to_polyline(p: np.ndarray, line: np.ndarray) -> float:
    return abs(float(cv2.pointPolygonTest(line.astype(np.float32).reshape(-1, 1, 2), (float(p[0]), float(p[1])), True)))


def test_a_68_point_crop_never_takes_the_dense_path(sample_face_png):
    from eamm_core.prepare.portrait import load_portrait

    crop = load_portrait(sample_face_png)
    assert crop.dense_px is None
    renderer = LandmarkRenderer(crop)
    assert renderer.rig is None
    plain = warp.build_mesh(crop.landmarks_px)
    assert np.array_equal(renderer.mesh.src, plain.src) and np.array_equal(renderer.mesh.triangles, plain.triangles)
    src = crop.landmarks_px.astype(np.float64)
    drv = _open_mouth(_blink(src, 0.6), 6.0)
    pts, _ = warp.drive_points(renderer.mesh, drv)
    assert len(pts) == len(plain.src)


@needs_mediapipe
def test_the_dense_points_round_trip_the_crop_cache(tmp_path, crop60):
    from eamm_core.cache import Cache, pack_crop, unpack_crop

    assert crop60.dense_px.shape == (478, 2) and crop60.dense_px.dtype == np.float32
    # the crop's dense points are the image's mesh under the crop's similarity, like its 68 points
    assert np.allclose(crop60.dense_px[[61, 291]].mean(0), crop60.landmarks_px[[48, 54]].mean(0), atol=3.0)
    cache = Cache(tmp_path)
    cache.put("crop", "k", pack_crop(crop60))
    back = unpack_crop(cache.get("crop", "k"))
    assert np.array_equal(back.dense_px, crop60.dense_px)
    cache.put("crop", "plain", pack_crop(replace(crop60, dense_px=None)))
    assert unpack_crop(cache.get("crop", "plain")).dense_px is None


@needs_mediapipe
def test_the_rig_uses_lids_irises_and_brows(crop60):
    renderer = LandmarkRenderer(crop60)
    rig = renderer.rig
    assert rig is not None and len(renderer.mesh.src) == len(warp.build_mesh(crop60.landmarks_px).src) + len(rig.ids)
    for name, _, chain, _ in dense_mesh.CONTOURS:
        dense_on_chain = [c for c in rig.chains[name] if c < 0]
        assert len(dense_on_chain) >= 3, name  # more than the 68 points alone
        assert rig.chains[name][0] == chain[0] and rig.chains[name][-1] == chain[-1]
    for eye in (0, 1):
        assert np.count_nonzero((rig.group == dense_mesh.IRIS_GROUP) & (rig.eye == eye)) >= 3


@needs_mediapipe
@pytest.mark.parametrize("closure", [0.3, 0.6, 0.92])
def test_driven_lid_contours_close_with_the_68_point_lids(crop60, closure):
    """The dense lids stay on the driven eye outline (within their source distance from the 68-point
    polygon, shrunk with the eye's opening) and a closed eye closes along its whole width."""
    renderer = LandmarkRenderer(crop60)
    rig, src = renderer.rig, crop60.landmarks_px.astype(np.float64)
    drv = _blink(src, closure)
    pts, _ = renderer.drive_dense(drv)
    dense = pts[len(pts) - len(rig.ids):]
    for side, ring in (("right", list(range(36, 42))), ("left", list(range(42, 48)))):
        pairs = ((37, 41), (38, 40)) if side == "right" else ((43, 47), (44, 46))
        ratio = np.mean([np.hypot(*(drv[lo] - drv[up])) / np.hypot(*(src[lo] - src[up])) for up, lo in pairs])
        gaps = []
        for half in ("upper", "lower"):
            for c in (c for c in rig.chains[f"{side}_{half}"] if c < 0):
                k = -c - 1
                before = _distance_to_polyline(rig.src[k], np.vstack([src[ring], src[ring[:1]]]))
                after = _distance_to_polyline(dense[k], np.vstack([drv[ring], drv[ring[:1]]]))
                scale = ratio if half == "upper" else 1.0
                assert after <= scale * before + 0.5, (side, half, int(rig.ids[k]), before, after)
        upper = rig.chain_points(pts[:68], dense, f"{side}_upper")
        lower = rig.chain_points(pts[:68], dense, f"{side}_lower")
        gaps = np.interp(upper[1:-1, 0], lower[:, 0], lower[:, 1]) - upper[1:-1, 1]
        assert gaps.min() > 0.8 * dense_mesh.MIN_LID_GAP  # never crosses the lower lid (measured across the eye's tilt)
        if closure > 0.9:
            assert gaps.max() < 1.5, gaps  # closed along its whole width


@needs_mediapipe
@pytest.mark.parametrize("size", [256, 512])
def test_the_irises_keep_their_place_through_a_blink(crop60, size):
    """Through a blink under a rolled, moved head, each iris point is where the similarity of its
    eye's corners puts it (within 0.5 px) while the upper lid is above it, and never crosses a lid."""
    renderer = LandmarkRenderer(crop60, size=size)
    rig, src = renderer.rig, crop60.landmarks_px.astype(np.float64)
    iris = np.flatnonzero(rig.group == dense_mesh.IRIS_GROUP)
    angle = np.deg2rad(6.0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = src.mean(0)
    checked = 0
    for closure in np.linspace(0.0, 0.92, 12).tolist() + np.linspace(0.92, 0.0, 6).tolist():
        drv = (_blink(src, closure) - centre) @ rot.T + centre + (2.0, -1.5)
        pts, _ = renderer.drive_dense(drv)
        dense = pts[len(pts) - len(rig.ids):]
        for k in iris.tolist():
            a, b = dense_mesh.EYE_CORNERS[rig.eye[k]]
            expected = _similar(src[a], src[b], pts[a], pts[b], rig.src[k])
            side = ("right", "left")[rig.eye[k]]
            outline = rig.outline(pts[:68], dense, side).astype(np.float32)
            inside = cv2.pointPolygonTest(outline, (float(dense[k, 0]), float(dense[k, 1])), True)
            assert inside >= -1e-6, (closure, int(rig.ids[k]))  # never outside the driven eye
            clear = cv2.pointPolygonTest(outline, (float(expected[0]), float(expected[1])), True)
            if clear >= dense_mesh.IRIS_MARGIN + 0.5:  # the lids are clear of it: exactly carried
                assert np.hypot(*(dense[k] - expected)) < 0.5, (closure, int(rig.ids[k]))
                checked += 1
        renderer.render(drv)  # the frame renders (eye interior and lid drawn along the dense outline)
    assert checked >= 30


@needs_mediapipe
def test_widened_eyes_keep_the_iris_round(crop60):
    """Lids opened wide (surprise): the iris's pixels stay put in the frame with the dense mesh,
    closer than the 68-point mesh keeps them (which stretches the iris with the lids)."""
    src = crop60.landmarks_px.astype(np.float64)
    drv = src.copy()
    for up, low in LIDS:
        drv[up] -= 0.35 * (src[low] - src[up])
        drv[low] += 0.15 * (src[low] - src[up])
    errors = []
    for crop in (crop60, replace(crop60, dense_px=None)):
        renderer = LandmarkRenderer(crop)
        still, wide = renderer.render(src).astype(np.float64), renderer.render(drv).astype(np.float64)
        err = 0.0
        for centre, side in ((468, 469), (473, 474)):
            c = crop60.dense_px[centre]
            r = int(0.8 * np.hypot(*(crop60.dense_px[side] - c)))
            x, y = int(round(c[0])), int(round(c[1]))
            err += float(np.abs(wide[y - r // 2:y + r // 2 + 1, x - r:x + r + 1]
                                - still[y - r // 2:y + r // 2 + 1, x - r:x + r + 1]).mean())
        errors.append(err / 2)
    assert errors[0] < 0.85 * errors[1], errors


@needs_mediapipe
@pytest.mark.parametrize("pose", ["open", "open_blink", "roll"])
def test_no_folded_triangles_with_the_mouth_wide_open(crop60, pose):
    """Wide-open mouth (alone, with closed eyes, under a 10 deg roll): no driven triangle is folded,
    and the 68 points and anchors are where the 68-point mesh puts them."""
    renderer = LandmarkRenderer(crop60)
    src = crop60.landmarks_px.astype(np.float64)
    drv = _open_mouth(src, 14.0)
    if pose == "open_blink":
        drv = _blink(drv, 0.92)
    if pose == "roll":
        a = np.deg2rad(10.0)
        drv = (drv - src.mean(0)) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + src.mean(0)
    pts, _ = renderer.drive_dense(drv)
    mesh = renderer.mesh
    assert not np.any(warp._signed_areas(pts, mesh.triangles) < mesh.fold_limit)
    assert np.abs(pts[:68] - drv).max() < 1e-9  # nothing to relax
    plain, _ = warp.drive_points(renderer.mesh68, drv)
    assert np.array_equal(pts[:len(plain)], plain)
    frame = renderer.render(drv)
    assert frame.shape == (256, 256, 3)



@needs_mediapipe
def test_the_render_setup_carries_both_meshes(crop60):
    """The pipeline's cached render setup holds the dense mesh's and the 68-point mesh's
    triangulations; a renderer made from it gives the same bytes."""
    from eamm_core.engines.base import EngineOptions
    from eamm_core.engines.landmark import create

    first = create(EngineOptions(seed=0, size="256"))
    kp = first.source_keypoints(crop60)
    frame = dict(first.render(crop60, kp, kp, [0]))[0]
    setup = first.render_setup(crop60)
    assert {"triangles", "triangles68"} <= set(setup) and len(setup["triangles"]) > len(setup["triangles68"])
    again = create(EngineOptions(seed=0, size="256"))
    assert again.use_render_setup(crop60, setup)
    assert np.array_equal(dict(again.render(crop60, kp, kp, [0]))[0], frame)
