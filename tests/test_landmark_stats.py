"""median_axis0: np.median's numbers without its numpy.ma import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eamm_core.engines.landmark.stats import median_axis0, percentile_axis0


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 7, 16, 33])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int32])
def test_same_bits_as_numpy_median(rows, dtype):
    rng = np.random.default_rng(rows)
    values = (rng.random((rows, 5, 3)) * 250).astype(dtype)
    got, want = median_axis0(values), np.median(values, axis=0)
    assert got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("q", [0, 5, 25, 50, 75, 90, 97, 100, 33.3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_percentile_same_bits_as_numpy(q, dtype):
    rng = np.random.default_rng(int(q * 10) + 1)
    for rows in (1, 2, 3, 8, 41, 400):
        flat = (rng.random(rows) * 255).astype(dtype)
        got, want = percentile_axis0(flat, q), np.percentile(flat, q)
        assert np.asarray(got).dtype == np.asarray(want).dtype and np.asarray(got).tobytes() == np.asarray(want).tobytes()
        table = (rng.random((rows, 3)) * 255).astype(dtype)
        got, want = percentile_axis0(table, q), np.percentile(table, q, axis=0)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_empty_or_integer_input_is_refused():
    with pytest.raises(ValueError):
        median_axis0(np.zeros((0, 3)))
    with pytest.raises(ValueError):
        percentile_axis0(np.zeros((0, 3)), 50)
    with pytest.raises(TypeError):
        percentile_axis0(np.arange(5), 50)


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0",
                    reason="numpy 1.x imports numpy.ma with numpy itself: nothing to spare")
def test_renderer_setup_does_not_import_numpy_ma():
    code = ("import sys, numpy as np; from eamm_core.engines.landmark import eyes, mouth_interior; "
            "img = (np.arange(256 * 256 * 3) % 251).astype(np.uint8).reshape(256, 256, 3); "
            "lm = np.load(sys.argv[1]); eyes.prepare_eyes(img, lm); mouth_interior.prepare_mouth(img, lm); "
            "print('numpy.ma' in sys.modules)")
    template = Path(__file__).resolve().parents[1] / "eamm_core" / "data" / "template_68.csv"
    lm = np.loadtxt(template, delimiter=",")[:, :2]
    lm = (lm - lm.min(0)) / (lm.max(0) - lm.min(0)) * 120 + 68
    path = Path(__file__).resolve().parent / "_artifacts" / "stats_lm.npy"
    path.parent.mkdir(exist_ok=True)
    np.save(path, lm)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    assert out == "False"
