"""Pose tracks: 3DDFA files, CSV, repetition, ping-pong, One-Euro smoothing, validation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import pose_file

from eamm_core.errors import InputError
from eamm_core.geometry.pose_units import artist_from_pose, pose_from_artist
from eamm_core.prepare.common import extend_ping_pong
from eamm_core.prepare.pose import load_pose, neutral_pose, one_euro


@pytest.mark.parametrize("which", ["synthetic", "21.npy"])
def test_3ddfa_single_row_is_repeated_without_tz(which, tmp_path):
    path = pose_file(which, tmp_path, frames=1)
    raw = np.load(path)
    track = load_pose(path, 40)
    assert track.values.shape == (40, 6) and track.source == "file"
    np.testing.assert_allclose(track.values, np.repeat(raw[:, :6], 40, 0).astype(np.float32))


@pytest.mark.parametrize("which", ["synthetic", "pose_sequence_93.npy"])
def test_3ddfa_sequence_extended_by_ping_pong_without_jumps(which, tmp_path):
    path = pose_file(which, tmp_path)
    raw = np.load(path)[:, :6]
    track = load_pose(path, 250).values
    np.testing.assert_allclose(track[:93], raw, rtol=1e-6)
    np.testing.assert_allclose(track[93:186], raw[::-1], rtol=1e-6)
    np.testing.assert_allclose(track[186:], raw[:64], rtol=1e-6)
    steps = np.abs(np.diff(track[:, :3], axis=0)).max()
    assert steps <= np.abs(np.diff(raw[:, :3], axis=0)).max() + 1e-4  # no step bigger than the source's
    assert load_pose(path, 50).values.shape == (50, 6)  # longer files are cut


def test_plain_arrays_and_csv(tmp_path):
    vals = np.column_stack([np.linspace(-10, 10, 12), np.zeros(12), np.ones(12), np.full(12, 5e-4),
                            np.full(12, 63.0), np.full(12, 72.0)])
    np.save(tmp_path / "p6.npy", vals)
    np.testing.assert_allclose(load_pose(tmp_path / "p6.npy", 12).values, vals, rtol=1e-6)
    lines = ["yaw,pitch,roll,scale,tx,ty"] + [",".join(f"{v:.6g}" for v in row) for row in vals]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    np.testing.assert_allclose(load_pose(tmp_path / "p.csv", 12).values, vals, rtol=1e-5)
    np.testing.assert_allclose(load_pose(vals, 12).values, vals, rtol=1e-6)
    assert load_pose(None, 7).source == "none"
    np.testing.assert_allclose(load_pose(None, 7).values, neutral_pose(7))


@pytest.mark.parametrize("which", ["synthetic", "pose_sequence_93.npy"])
def test_one_euro_smooths_noise_and_follows_slow_motion(which, tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(300)
    slow = 10 * np.sin(t / 60.0)
    noisy = slow + rng.normal(0, 1.0, size=300)
    out = one_euro(noisy[:, None], mincutoff=1.0, beta=0.0, freq=100)[:, 0]
    assert np.std(np.diff(out)) < 0.5 * np.std(np.diff(noisy))
    assert out[0] == noisy[0]
    # the reference pose parameters (very low cutoff) make a track much steadier
    path = pose_file(which, tmp_path)
    raw = load_pose(path, 93).values
    smooth = load_pose(path, 93, smooth=True).values
    assert np.abs(np.diff(smooth[:, 0])).sum() < np.abs(np.diff(raw[:, 0])).sum()
    np.testing.assert_allclose(smooth[0], raw[0], rtol=1e-6)


def test_extend_ping_pong_shapes():
    x = np.arange(3)
    np.testing.assert_array_equal(extend_ping_pong(x, 10), [0, 1, 2, 2, 1, 0, 0, 1, 2, 2])
    np.testing.assert_array_equal(extend_ping_pong(x, 2), [0, 1])


def test_artist_conversion_round_trip():
    art = np.array([[10.0, -5.0, 2.0, 1.25, 0.1, -0.05]])
    pose = pose_from_artist(*art.T)
    assert pose[0, 3] == pytest.approx(0.0005 * 1.25)
    assert pose[0, 4] > 63 and pose[0, 5] > 72  # right and UP (3DDFA's y points up)
    np.testing.assert_allclose(artist_from_pose(pose), art, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((5, 4)), "shape"),
    (np.array([[0, np.nan, 0, 5e-4, 63, 72]]), "NaN"),
    (np.array([[120.0, 0, 0, 5e-4, 63, 72]]), "outside"),
])
def test_bad_pose_arrays(bad, match, tmp_path):
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(InputError, match=f"{match}.* in bad.npy"):
        load_pose(tmp_path / "bad.npy", 10)
    with pytest.raises(InputError, match=match):
        load_pose(bad, 10)
