"""Portrait reading: bit depths, alpha, EXIF orientation, formats, sizes, several/small faces."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import portrait_path, sample_face_rgb
from PIL import Image

from eamm_core.errors import InputError
from eamm_core.prepare.image_io import read_image
from eamm_core.prepare.portrait import load_portrait


@pytest.fixture(scope="module")
def face_rgb() -> np.ndarray:
    """The sample portrait's 256 px face crop: a portrait framed like the 256 px fixture photographs."""
    return np.asarray(sample_face_rgb())


@pytest.fixture(scope="module")
def reference_crop(sample_face_png):
    return load_portrait(sample_face_png)


def test_16bit_png_and_tiff_read_as_8bit(tmp_path, face_rgb):
    import cv2

    rgb16 = face_rgb.astype(np.uint16) * 257
    for name in ("face16.png", "face16.tif"):
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
        rgb, alpha = read_image(tmp_path / name)
        assert rgb.dtype == np.uint8 and alpha is None
        assert np.abs(rgb.astype(int) - face_rgb).max() <= 1
    grey16 = (cv2.cvtColor(face_rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "grey16.png"), grey16)
    rgb, _ = read_image(tmp_path / "grey16.png")
    assert rgb.shape == face_rgb.shape and np.abs(rgb[..., 0].astype(int) * 257 - grey16).max() <= 257
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    crop = load_portrait(tmp_path / "grey16.png")
    assert crop.image.shape == (256, 256, 3)


def test_alpha_is_composited_on_grey_and_kept_as_mask(tmp_path, face_rgb, reference_crop):
    alpha = np.full(face_rgb.shape[:2], 255, np.uint8)
    alpha[:, :40] = 0  # left band transparent
    Image.fromarray(np.dstack([face_rgb, alpha]), "RGBA").save(tmp_path / "face.png")
    rgb, a = read_image(tmp_path / "face.png")
    assert a is not None and a[:, :40].max() == 0 and a[:, 40:].min() == 1
    assert (rgb[:, :40] == 128).all()
    crop = load_portrait(tmp_path / "face.png")
    # the transparent band maps into the crop's mask; the rest stays opaque
    band = crop.crop_from_source @ np.array([10.0, 128.0, 1.0])
    assert crop.mask[int(band[1]), int(band[0])] < 0.01
    assert crop.mask[128, 128] == pytest.approx(1.0)
    assert np.abs(crop.image[100:200, 100:200].astype(int) - reference_crop.image[100:200, 100:200]).max() <= 2


@pytest.mark.parametrize("orientation,undo", [(6, lambda a: np.rot90(a, 1)), (3, lambda a: np.rot90(a, 2)),
                                               (8, lambda a: np.rot90(a, -1))])
def test_exif_orientation_is_honoured(tmp_path, face_rgb, orientation, undo):
    # store the pixels turned the other way and tag them so a viewer shows the upright face
    stored = np.ascontiguousarray(undo(face_rgb))
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    rgb, _ = read_image(tmp_path / "rot.jpg")
    assert rgb.shape == face_rgb.shape
    assert np.abs(rgb.astype(int) - face_rgb).mean() < 4
    crop = load_portrait(tmp_path / "rot.jpg")
    assert crop.landmarks_px[8, 1] > crop.landmarks_px[27, 1]  # chin below the nose bridge: upright


def test_webp_and_jpeg_portraits(tmp_path, face_rgb, reference_crop):
    Image.fromarray(face_rgb).save(tmp_path / "face.webp", quality=95)
    crop = load_portrait(tmp_path / "face.webp")
    assert np.abs(crop.landmarks_px - reference_crop.landmarks_px).max() < 3


def test_large_8k_portrait_detects_scaled_and_keeps_full_resolution(tmp_path, face_rgb, reference_crop):
    import cv2

    canvas = np.full((4320, 7680, 3), 70, np.uint8)
    big = cv2.resize(face_rgb, (1536, 1536), interpolation=cv2.INTER_CUBIC)  # face ~770 px wide
    canvas[1000:2536, 3000:4536] = big
    path = tmp_path / "8k.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    crop = load_portrait(path)
    assert crop.original.shape == (4320, 7680, 3)
    x0, y0, x1, y1 = crop.face_box
    assert 3000 < x0 < x1 < 4536 and 1000 < y0 < y1 < 2536 and x1 - x0 > 600
    expected = reference_crop.source_landmarks_px * 6.0 + [3000 + 2.5, 1000 + 2.5]
    assert np.abs(crop.source_landmarks_px - expected).mean() < 6.0
    assert np.abs(crop.landmarks_px - reference_crop.landmarks_px).mean() < 2.0


def test_several_faces_take_the_largest_with_a_warning_and_face_index(tmp_path, face_rgb):
    import cv2

    canvas = np.full((400, 720, 3), 100, np.uint8)
    canvas[100:356, 440:696] = face_rgb
    canvas[60:252, 40:232] = cv2.resize(face_rgb, (192, 192))
    Image.fromarray(canvas).save(tmp_path / "two.png")
    crop = load_portrait(tmp_path / "two.png")
    assert crop.face_box[0] > 400
    assert len(crop.warnings) == 1 and "2 faces" in crop.warnings[0] and "--face-index" in crop.warnings[0]
    other = load_portrait(tmp_path / "two.png", face_index=1)
    assert other.face_box[0] < 240
    with pytest.raises(InputError, match="face index 2.*2 face"):
        load_portrait(tmp_path / "two.png", face_index=2)


def test_small_face_is_refused(tmp_path, face_rgb):
    import cv2

    canvas = np.full((600, 800, 3), 110, np.uint8)
    canvas[200:328, 300:428] = cv2.resize(face_rgb, (128, 128), interpolation=cv2.INTER_AREA)
    Image.fromarray(canvas).save(tmp_path / "far.png")
    with pytest.raises(InputError, match=r"face is too small \(\d+ px wide\) in far.png.*80 px"):
        load_portrait(tmp_path / "far.png")


def test_tiny_image_and_non_image(tmp_path):
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match="too small.*tiny.png"):
        read_image(tmp_path / "tiny.png")
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(InputError, match="not an image.*notes.png"):
        read_image(tmp_path / "notes.png")


def test_oversized_image_is_refused_before_decoding(tmp_path):
    Image.new("L", (17000, 200), 0).save(tmp_path / "banner.png")
    with pytest.raises(InputError, match=r"too large \(17000x200 px\) in banner.png: scale it"):
        read_image(tmp_path / "banner.png")


@pytest.mark.parametrize("name", ["astronaut.png", "7.png"])
def test_tight_portrait_gets_no_black_frame_and_mask_marks_the_outside(tmp_path, name):
    """7.png is already a tight 256 crop: re-aligning it reaches past the photo's edge. Those crop
    pixels repeat the edge (no black frame in the animation) and the mask says they are not the photo."""
    from eamm_core.prepare.portrait import load_portrait

    if name == "astronaut.png":  # the sample's face cut tight like 7.png, above its black collar
        path = tmp_path / "tight.png"
        Image.fromarray(np.asarray(sample_face_rgb())[0:190, 20:236]).save(path)
    else:
        path = portrait_path(name)
    crop = load_portrait(path)
    border = np.concatenate([crop.image[0], crop.image[-1], crop.image[:, 0], crop.image[:, -1]])
    assert border.mean() > 40, "the crop's border is (nearly) black"
    assert (border.max(axis=1) < 10).mean() < 0.01
    assert crop.mask.min() < 0.05  # some crop pixels lie outside the photo
    assert crop.mask[128, 128] == pytest.approx(1.0)
