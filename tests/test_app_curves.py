"""The app's curve model (keys, interpolation, files read by the CLI) and the curve editor's mouse editing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from eamm_app import curve_model as cm
from eamm_core.curves import load_curve, load_pose_curve
from eamm_core.geometry.pose_units import pose_from_artist

os.environ["QT_QPA_PLATFORM"] = "offscreen"


def _strength(keys, interp="linear"):
    c = cm.Curve(cm.CHANNELS["strength"], interp=interp)
    for f, v in keys:
        c.add(f, v)
    return c


def test_linear_interpolation_holds_ends_and_clamps():
    c = _strength([(10, 0.5), (0, 0.0), (20, 5.0)])  # out of order, last value above the range
    assert c.keys == [(0, 0.0), (10, 0.5), (20, 2.0)]
    assert c.sample(25) == pytest.approx([0.05 * t for t in range(11)] + [0.5 + 0.15 * t for t in range(1, 11)] + [2.0] * 4)


def test_smooth_interpolation_is_flat_at_keys_and_stays_in_range():
    c = _strength([(0, 0.0), (10, 2.0)], interp="smooth")
    vals = c.sample(11)
    assert vals[5] == pytest.approx(1.0)
    assert vals[1] < 0.2 * 1  # linear would give 0.2: eases in
    assert vals[9] > 1.8
    assert all(0.0 <= v <= 2.0 for v in vals) and vals == sorted(vals)


def test_move_cannot_pass_neighbours_and_remove():
    c = _strength([(0, 1.0), (10, 1.0), (20, 1.0)])
    assert c.move(1, 35, 0.3) == 1
    assert c.keys[1] == (19, 0.3)  # stopped before the next key
    c.move(1, -4, -1)
    assert c.keys[1] == (1, 0.0)
    c.remove(0)
    assert c.keys == [(1, 0.0), (20, 1.0)]


@pytest.mark.parametrize("suffix", [".json", ".csv"])
@pytest.mark.parametrize("interp", ["linear", "smooth"])
def test_strength_file_is_what_the_cli_reads(tmp_path, suffix, interp):
    c = _strength([(3, 0.2), (17, 1.7), (30, 0.9)], interp)
    path = cm.save_strength(c, tmp_path / f"s{suffix}")
    cli = load_curve(path, 40)
    np.testing.assert_allclose(cli, c.sample(40), atol=1e-5)
    back = cm.load_strength(path)
    np.testing.assert_allclose(back.sample(40), c.sample(40), atol=1e-5)
    if suffix == ".json":
        assert back.keys == c.keys and back.interp == interp  # editable keys come back


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_pose_file_is_what_the_cli_reads(tmp_path, suffix):
    curves = cm.new_curves()
    curves["yaw"].add(0, -10)
    curves["yaw"].add(20, 15)
    curves["pitch"].add(8, 5)
    curves["roll"].interp = "smooth"
    curves["roll"].add(4, 0)
    curves["roll"].add(12, -6)
    path = cm.save_pose(curves, tmp_path / f"p{suffix}")
    if suffix == ".json":
        assert json.loads(path.read_text())["units"] == "artist"
    got = load_pose_curve(path)  # 3DDFA values through the last key
    n = got.shape[0]
    assert n == 21
    ypr = [curves[c].sample(n) for c in cm.POSE_CHANNELS]
    want = pose_from_artist(*[np.asarray(v, np.float32) for v in ypr], np.ones(n, np.float32),
                            np.zeros(n, np.float32), np.zeros(n, np.float32))
    np.testing.assert_allclose(got, np.asarray(want).reshape(n, 6), atol=1e-3)
    back = cm.load_pose(path)
    for ch in cm.POSE_CHANNELS:
        np.testing.assert_allclose(back[ch].sample(n), curves[ch].sample(n), atol=1e-5)


def test_job_curves_per_frame_and_pose_only_when_keyed():
    curves = cm.new_curves()
    curves["strength"].add(10, 2.0)
    job = cm.job_curves(curves, 15)
    assert len(job["strength"]) == 15 and job["strength"][5] == pytest.approx(1.5) and job["strength"][14] == 2.0
    assert "pose" not in job
    curves["pitch"].add(0, 12)
    job = cm.job_curves(curves, 15)
    assert job["pose_units"] == "artist" and len(job["pose"]) == 15
    assert job["pose"][7] == [0.0, 12.0, 0.0, 1.0, 0.0, 0.0]


def test_bad_curve_files_give_one_line(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text("{nope")
    with pytest.raises(cm.CurveFileError, match="not valid JSON"):
        cm.load_strength(bad)
    bad.write_text('{"keys": [[0, "x"]]}')
    with pytest.raises(cm.CurveFileError, match="numeric"):
        cm.load_strength(bad)
    with pytest.raises(cm.CurveFileError, match="no keys"):
        cm.save_pose(cm.new_curves(), tmp_path / "p.json")


# --- the editor widget, by simulated mouse events ----------------------------------------------------

@pytest.fixture(scope="module")
def qapp():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def test_editor_mouse_add_drag_delete(qapp):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from eamm_app.curve_editor import CurveEditor

    ed = CurveEditor()
    ed.resize(700, 260)
    ed.show()
    QTest.qWaitForWindowExposed(ed)
    canvas = ed.canvas
    canvas.set_num_frames(101)
    changes = []
    ed.changed.connect(lambda: changes.append(1))

    def at(frame, value):
        return QPoint(round(canvas.frame_to_x(frame)), round(canvas.value_to_y(value)))

    assert canvas.curve.keys == [(0, 1.0)]
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(50, 2.0))
    assert len(canvas.curve.keys) == 2
    f, v = canvas.curve.keys[1]
    assert f == pytest.approx(50, abs=1) and v == pytest.approx(2.0, abs=0.02)
    # drag that key to frame 80, value 0.5
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(f, v))
    for step in range(1, 6):
        QTest.mouseMove(canvas, at(f + (80 - f) * step / 5, v + (0.5 - v) * step / 5))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(80, 0.5))
    assert len(canvas.curve.keys) == 2
    f2, v2 = canvas.curve.keys[1]
    assert f2 == pytest.approx(80, abs=1) and v2 == pytest.approx(0.5, abs=0.02)
    # right click deletes it; right click on empty space does nothing
    QTest.mouseClick(canvas, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, at(f2, v2))
    QTest.mouseClick(canvas, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, at(30, 1.5))
    assert canvas.curve.keys == [(0, 1.0)]
    # a yaw key goes to the yaw channel only
    ed.set_channel("yaw")
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(20, 30))
    assert len(ed.curves["yaw"].keys) == 1 and ed.curves["yaw"].keys[0][1] == pytest.approx(30, abs=0.5)
    assert ed.curves["strength"].keys == [(0, 1.0)]
    ed.interp_box.setCurrentText("smooth")
    assert ed.curves["yaw"].interp == "smooth" and ed.curves["strength"].interp == "linear"
    assert changes
    ed.close()


def test_editor_save_and_load_through_its_buttons_paths(qapp, tmp_path):
    from eamm_app.curve_editor import CurveEditor

    ed = CurveEditor()
    messages = []
    ed.message.connect(messages.append)
    ed.curves["strength"].add(30, 0.25)
    ed.curves["roll"].add(5, -12)
    ed.save(tmp_path / "s.csv", pose=False)
    ed.save(tmp_path / "p.json", pose=True)
    other = CurveEditor()
    other.load(tmp_path / "s.csv", pose=False)
    other.load(tmp_path / "p.json", pose=True)
    assert other.curves["strength"].keys == [(0, 1.0), (30, 0.25)]
    assert other.curves["roll"].keys == [(5, -12.0)] and other.curves["yaw"].keys == [(5, 0.0)]
    (tmp_path / "bad.json").write_text("[")
    other.load(tmp_path / "bad.json", pose=False)
    assert other.curves["strength"].keys == [(0, 1.0), (30, 0.25)]  # unchanged on a bad file
    assert any("saved" in m for m in messages)
