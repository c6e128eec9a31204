"""Strength and pose curves: keys -> per-frame values at 25 fps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eamm_core.curves import (
    hold_to_length,
    is_keyed_curve,
    load_curve,
    load_curve_keys,
    load_pose_curve,
    strength_per_frame,
)
from eamm_core.errors import InputError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_json_object_keys_interpolate_linearly_and_hold_at_both_ends(tmp_path):
    path = write(tmp_path, "s.json", json.dumps({"10": 0.0, "20": 1.0, "30": 0.5}))
    alpha = load_curve(path, 40)
    assert alpha.shape == (40,) and alpha.dtype == np.float32
    assert np.all(alpha[:11] == 0.0)
    np.testing.assert_allclose(alpha[15], 0.5)
    np.testing.assert_allclose(alpha[25], 0.75)
    assert np.all(alpha[30:] == 0.5)


@pytest.mark.parametrize(
    "payload",
    [
        [[0, 0.0], [4, 1.0]],
        {"keys": [[4, 1.0], [0, 0.0]]},
        {"keys": [{"frame": 0, "value": 0.0}, {"frame": 4, "value": 1.0}]},
        {"fps": 50, "keys": {"0": 0.0, "8": 1.0}},
    ],
)
def test_json_layouts_agree(tmp_path, payload):
    alpha = load_curve(write(tmp_path, "c.json", json.dumps(payload)), 6)
    np.testing.assert_allclose(alpha, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0])


def test_csv_with_header_and_comments(tmp_path):
    path = write(tmp_path, "s.csv", "# strength for shot 12\nframe,strength\n0,1\n\n100,0\n")
    alpha = load_curve(path, 101)
    np.testing.assert_allclose(alpha[[0, 25, 50, 100]], [1.0, 0.75, 0.5, 0.0])


def test_without_num_frames_samples_through_the_last_key(tmp_path):
    alpha = load_curve(write(tmp_path, "s.csv", "0,0\n5,1\n"))
    np.testing.assert_allclose(alpha, [0, 0.2, 0.4, 0.6, 0.8, 1.0], rtol=1e-6)


def test_vector_keys_for_pose(tmp_path):
    path = write(tmp_path, "p.csv", "frame,yaw,pitch,roll,s,tx,ty\n0,0,0,0,0.0005,63,72\n10,20,-10,0,0.0005,63,72\n")
    keys = load_curve_keys(path, width=6)
    assert keys.units == "3ddfa" and keys.width == 6
    pose = load_pose_curve(path)
    assert pose.shape == (11, 6)
    np.testing.assert_allclose(pose[5, :3], [10, -5, 0])
    np.testing.assert_allclose(pose[:, 4], 63)


def test_artist_pose_keys_are_converted_to_the_3ddfa_convention(tmp_path):
    from eamm_core.geometry.pose_units import pose_from_artist

    path = write(tmp_path, "p.json", json.dumps({"keys": {"0": [0, 0, 0, 1, 0, 0], "4": [12, 0, 4, 1.2, 0.1, -0.05]}}))
    pose = load_pose_curve(path)
    assert pose.shape == (5, 6)
    np.testing.assert_allclose(pose[4], pose_from_artist(12, 0, 4, 1.2, 0.1, -0.05)[0], rtol=1e-6)
    np.testing.assert_allclose(pose[2], pose_from_artist(6, 0, 2, 1.1, 0.05, -0.025)[0], rtol=1e-5)


def test_keyed_curve_detection(tmp_path):
    assert is_keyed_curve(write(tmp_path, "a.json", "{}"))
    assert is_keyed_curve(write(tmp_path, "b.csv", "frame,yaw,pitch,roll,scale,offset_x,offset_y\n0,1,2,3,1,0,0\n"))
    assert not is_keyed_curve(write(tmp_path, "c.csv", "1,2,3,0.0005,63,72\n"))
    assert not is_keyed_curve(write(tmp_path, "d.npy", "x"))


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("a.json", "{not json", "not valid JSON"),
        ("b.json", json.dumps({"0": 1, "x": 2}), "'x' is not a number"),
        ("c.csv", "0,1\n0,2\n", "two keys on the same frame"),
        ("d.csv", "0,1\n5,a\n", "row 2 of the curve is not numbers"),
        ("e.csv", "", "no keys"),
        ("f.json", json.dumps({"0": [1, 2], "3": 1}), "different numbers of values"),
        ("g.json", json.dumps({"-2": 1}), "negative frame"),
        ("h.json", json.dumps({"fps": 0, "keys": {"0": 1}}), "fps 0 must be positive"),
    ],
)
def test_bad_curves_are_one_line_errors(tmp_path, name, text, message):
    with pytest.raises(InputError, match=message) as info:
        load_curve(write(tmp_path, name, text), 10)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_pose_curve_needs_six_values(tmp_path):
    with pytest.raises(InputError, match="1 value"):
        load_pose_curve(write(tmp_path, "p.json", json.dumps({"0": 1.0})))


def test_missing_curve_file(tmp_path):
    with pytest.raises(InputError, match="curve file not found in gone.csv"):
        load_curve(tmp_path / "gone.csv", 3)


def test_hold_and_strength_expansion():
    np.testing.assert_array_equal(strength_per_frame(0.8, 3), np.float32([0.8, 0.8, 0.8]))
    np.testing.assert_array_equal(strength_per_frame(np.array([0.0, 1.0]), 4), [0, 1, 1, 1])
    np.testing.assert_array_equal(strength_per_frame([0.1, 0.2, 0.3, 0.4], 2), np.float32([0.1, 0.2]))
    pose = hold_to_length(np.arange(12, dtype=np.float32).reshape(2, 6), 4)
    assert pose.shape == (4, 6) and np.all(pose[3] == pose[1])
    with pytest.raises(InputError):
        strength_per_frame([np.inf], 2)
