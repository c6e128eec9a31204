"""The frames' PNG encoder (eamm_core.output.encode_png): ISA-L deflate, OpenCV fallback."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from eamm_core import output
from eamm_core.output import FrameWriter, encode_png, png_is_complete, read_png

SHAPES = [(256, 256, 3), (7, 5, 3), (1, 1, 3), (33, 1, 3), (1, 40, 3)]


def _decode_both(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    Image.open(io.BytesIO(data)).verify()  # chunk CRCs and structure
    pil = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return pil, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("shape", SHAPES)
def test_png_round_trips_exactly_in_two_decoders(shape):
    rng = np.random.default_rng(sum(shape))
    rgb = rng.integers(0, 256, shape, dtype=np.uint8)
    rgb[: shape[0] // 2] = rgb[0, 0]  # flat areas as well as noise
    data = encode_png(rgb)
    pil, ocv = _decode_both(data)
    np.testing.assert_array_equal(pil, rgb)
    np.testing.assert_array_equal(ocv, rgb)
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (shape[1], shape[0], 8, 2)


def test_png_of_a_non_contiguous_view_is_its_pixels():
    rgb = np.random.default_rng(3).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    view = rgb[::2, 5:45]
    np.testing.assert_array_equal(_decode_both(encode_png(view))[0], view)


@pytest.mark.skipif(output._isal_zlib() is None, reason="isal is not installed")
def test_isal_encoder_is_used_and_rows_are_filtered_up():
    rgb = np.tile(np.arange(64, dtype=np.uint8)[None, :, None], (16, 1, 3))  # every row the same
    data = encode_png(rgb)
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4:idat])[0]
    rows = np.frombuffer(zlib.decompress(data[idat + 4:idat + 4 + length]), np.uint8).reshape(16, 64 * 3 + 1)
    assert (rows[:, 0] == 2).all(), "filter type Up on every row"
    assert not rows[1:, 1:].any(), "rows equal to the one above filter to zeros"


def test_without_isal_opencv_writes_the_same_pixels(tmp_path, monkeypatch):
    rgb = np.random.default_rng(5).integers(0, 256, (24, 18, 3), dtype=np.uint8)
    fast = encode_png(rgb)
    monkeypatch.setattr(output, "_isal_zlib", lambda: None)
    slow = encode_png(rgb)
    np.testing.assert_array_equal(_decode_both(slow)[1], rgb)
    np.testing.assert_array_equal(_decode_both(fast)[1], _decode_both(slow)[1])
    path = FrameWriter(tmp_path).write(3, rgb)
    assert png_is_complete(path)
    np.testing.assert_array_equal(read_png(path), rgb)
