"""The fold relaxation's shortcuts (vectorised step, fixed point solved directly, early end) give
what the plain 60 steps give, on the repo's own sample portrait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2")

from eamm_core.engines.landmark import warp

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "astronaut.png"


def _plain_relax(mesh, drv, iterations: int = 60) -> None:
    """The relaxation step by step, every step, one vertex at a time (the reference)."""
    fixed = np.zeros(len(drv), bool)
    fixed[mesh.border] = True
    anchor = np.zeros(len(drv), bool)
    anchor[warp.N_LM:] = True
    limit = np.where(mesh.collapsible, -1e-6, 0.02 * mesh.ref_area)
    inner = np.concatenate([mesh.forehead, mesh.ring])
    for it in range(iterations):
        bad = warp._signed_areas(drv, mesh.triangles) < limit
        if not bad.any():
            return
        verts = np.unique(mesh.triangles[bad])
        verts = verts[~fixed[verts]]
        if it < iterations // 2 and anchor[verts].any():
            verts = verts[anchor[verts]]
        disp = drv - mesh.src
        for v in verts.tolist():
            nb = mesh.neighbours[v]
            drv[v] = mesh.src[v] + 0.5 * disp[v] + 0.5 * disp[nb].mean(0)
        drv[inner] = np.clip(drv[inner], 2.0, warp.SIZE - 3.0)


@pytest.fixture(scope="module")
def sample_mesh():
    from eamm_core.prepare.portrait import load_portrait

    crop = load_portrait(SAMPLE)
    lm = crop.landmarks_px.astype(np.float64)
    return warp.build_mesh(lm), lm


def _cases(lm: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    smile = lm.copy()
    # the sample's happy preset at strength 0.5 (frame 0 of the demo): corners up 4.5 px, the lower
    # lip up 9 px; the left corner (48, 60) ends above the upper lip's first point (49)
    smile[[48, 54, 60, 64]] -= (0.0, 4.5)
    smile[[55, 56, 57, 58, 59, 65, 66, 67]] -= (0.0, 9.0)
    chin_out = lm.copy()
    chin_out[5:12] += (0.0, 60.0)  # past the crop border: anchors give way, then landmarks
    return {"smile corner": smile, "chin out": chin_out,
            **{f"noise {k}": lm + rng.normal(0, 4.0, lm.shape) for k in range(4)}}


def test_relaxation_equals_the_plain_steps(sample_mesh, monkeypatch):
    mesh, lm = sample_mesh
    settled = []
    real = warp._settle_at_fixed_point
    monkeypatch.setattr(warp, "_settle_at_fixed_point", lambda *a: settled.append(real(*a)) or settled[-1])
    for name, drv_lm in _cases(lm).items():
        ours, head = warp.drive_points(mesh, drv_lm)
        with monkeypatch.context() as m:
            m.setattr(warp, "_relax_folds", _plain_relax)
            plain, head_plain = warp.drive_points(mesh, drv_lm)
        np.testing.assert_allclose(head, head_plain, atol=1e-9, err_msg=name)
        assert np.abs(ours - plain).max() < 1e-4, f"{name}: {np.abs(ours - plain).max():.2e} px"
    assert any(settled), "the unfixable smile fold is settled at its fixed point directly"


def test_smile_fold_stays_and_is_not_rasterised_inside_out(sample_mesh):
    mesh, lm = sample_mesh
    drv, _ = warp.drive_points(mesh, _cases(lm)["smile corner"])
    area = warp._signed_areas(drv, mesh.triangles)
    folded = mesh.triangles[(area < mesh.fold_limit) & ~mesh.collapsible]
    assert len(folded) and set(folded.ravel().tolist()) <= {48, 49, 60}, folded
