"""Face resolution (``--size``): the choice of size, full-resolution renders of the landmark engine
and their paste-back (identity PSNR, fine detail kept), the manifest's record.

The large portrait is an uncropped 1920x1080 video frame of the real talking clip (frame 70: lips
closed), and an 807x1000 cut of it (a portrait-format photo); the small ones are the 256 px fixtures.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

cv2 = pytest.importorskip("cv2")

from eamm_core.engines.landmark.render import LandmarkRenderer
from eamm_core.errors import InputError
from eamm_core.render.frame_size import enlarge, parse_size, resolve_size
from eamm_core.render.paste_back import paste_back


def _scaled(span: float) -> np.ndarray:
    """A source_from_crop similarity whose crop spans ``span`` source pixels."""
    k = span / 256.0
    return np.array([[k * 0.8, -k * 0.6, 40.0], [k * 0.6, k * 0.8, 10.0], [0, 0, 1]])


@pytest.mark.parametrize(("span", "size"), [(180, 256), (256, 256), (270, 256), (300, 512), (512, 512),
                                            (700, 1024), (1024, 1024), (1100, 1024)])
def test_auto_picks_the_smallest_size_covering_the_span(span, size):
    chosen = resolve_size("auto", _scaled(span))
    assert chosen.size == size and chosen.native == size and chosen.note is None
    assert chosen.span == pytest.approx(span)


def test_a_span_above_1024_is_rendered_at_1024_unless_2048_is_asked():
    auto = resolve_size("auto", _scaled(1500))
    assert auto.size == 1024 and "2048" in auto.note and "1500" in auto.note
    assert resolve_size("2048", _scaled(1500)).size == 2048 and resolve_size("2048", _scaled(1500)).note is None
    assert resolve_size(512, _scaled(1500)).size == 512  # an explicit size is what is rendered


def test_a_fixed_size_engine_says_it_enlarges():
    assert resolve_size("auto", _scaled(900), native=256).size == 256  # auto: nothing to gain
    big = resolve_size("1024", _scaled(900), native=256)
    assert big.size == 1024 and big.native == 256 and "256" in big.note and "Lanczos" in big.note
    assert big.manifest() == {"requested": "1024", "output": 1024, "engine_native": 256,
                              "crop_span_px": 900.0, "note": big.note}
    frame = np.zeros((256, 256, 3), np.uint8)
    frame[100:156, 100:156] = 200
    out = enlarge(frame, 1024)
    assert out.shape == (1024, 1024, 3) and abs(float(out.mean()) - float(frame.mean())) < 1.0


@pytest.mark.parametrize("bad", ["300", "huge", 0, "1024px"])
def test_a_bad_size_is_one_clear_input_error(bad):
    with pytest.raises(InputError) as err:
        parse_size(bad)
    assert err.value.field == "size" and "auto" in str(err.value)


@pytest.fixture(scope="module")
def hd_paths(tmp_path_factory):
    """Frame 70 of the real clip, whole (1920x1080) and as an 807x1000 portrait."""
    cap = cv2.VideoCapture(str(shared_path("fixtures", "talking", "M030_sad_3_001.mp4")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 70)
    ok, frame = cap.read()
    if not ok:
        pytest.skip("cannot read frame 70 of the talking clip")
    folder = tmp_path_factory.mktemp("hd")
    cv2.imwrite(str(folder / "hd.png"), frame)
    cv2.imwrite(str(folder / "p807.png"), frame[80:1080, 534:1341])
    return folder / "hd.png", folder / "p807.png"


@pytest.fixture(scope="module")
def hd_crop(hd_paths):
    from eamm_core.prepare.portrait import load_portrait

    return load_portrait(hd_paths[1])


def _face_stats(crop, pasted):
    x0, y0, x1, y1 = crop.face_box
    src = crop.original[y0:y1, x0:x1].astype(np.float64)
    out = pasted[y0:y1, x0:x1].astype(np.float64)
    psnr = 10 * np.log10(255.0 ** 2 / max(float(np.mean((out - src) ** 2)), 1e-12))

    def lap(a):
        return float(cv2.Laplacian(cv2.cvtColor(a.astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float64),
                                   cv2.CV_64F).var())
    return psnr, lap(out) / lap(src)


def test_auto_on_small_and_large_portraits(hd_crop):
    from eamm_core.prepare.portrait import load_portrait

    for name in ("60.png", "7.png"):  # 256 px pictures, crops spanning 252-263 px: not enlarged
        small = load_portrait(shared_path("fixtures", "portraits", name))
        assert resolve_size("auto", small.source_from_crop).size == 256
    chosen = resolve_size("auto", hd_crop.source_from_crop)
    assert 512 < chosen.span <= 1024 and chosen.size == 1024


@pytest.mark.parametrize("size", [256, 512, 1024])
def test_renders_at_the_size_and_the_still_face_pastes_back_as_the_photo(hd_crop, size):
    renderer = LandmarkRenderer(hd_crop, size=size)
    frame = renderer.render(hd_crop.landmarks_px)
    assert frame.shape == (size, size, 3) and frame.dtype == np.uint8
    pasted = paste_back(hd_crop, frame)
    assert pasted.shape == hd_crop.original.shape
    psnr, detail = _face_stats(hd_crop, pasted)
    if size == 1024:  # the auto size for this portrait: the photo itself, its detail kept
        assert psnr >= 40.0 and 0.7 <= detail <= 1.3
    else:  # smaller than the face: fewer pixels, less detail (the 0.15-0.5 of a 256 render)
        assert detail < 0.7


def _open(lm: np.ndarray, amount: float) -> np.ndarray:
    drv = np.array(lm, np.float64, copy=True)
    drv[[61, 62, 63], 1] -= 0.3 * amount
    drv[[65, 66, 67], 1] += amount
    drv[5:12, 1] += 0.8 * amount
    drv[[56, 57, 58], 1] += amount
    return drv


def test_moving_face_keeps_the_photos_detail_without_a_seam(hd_crop):
    renderer = LandmarkRenderer(hd_crop, size=1024)
    pasted = paste_back(hd_crop, renderer.render(_open(hd_crop.landmarks_px, 8.0)))
    _, detail = _face_stats(hd_crop, pasted)
    assert 0.7 <= detail <= 1.3
    # no seam where the face is blended in: along the mask's edge the difference to the photo
    # changes smoothly (no step between neighbouring pixels larger than the photo's own)
    diff = np.abs(pasted.astype(np.float64) - hd_crop.original).sum(axis=2)
    x0, y0, x1, y1 = hd_crop.face_box
    jaw = diff[y0:y1 + 60, x0 - 60:x1 + 60]
    step = np.abs(np.diff(jaw, axis=1)).max()
    photo_step = np.abs(np.diff(hd_crop.original[y0:y1 + 60, x0 - 60:x1 + 60].astype(np.float64).sum(axis=2),
                                axis=1)).max()
    assert step <= photo_step


def test_the_mouth_interior_is_painted_at_the_size(hd_crop):
    """Same look at 256 and 1024, painted at 1024 (its grain pattern, widths and the colours it is
    measured on are the 1024 frame's), not an enlarged 256 paint."""
    lm = _open(hd_crop.landmarks_px, 10.0)
    r256, r1024 = LandmarkRenderer(hd_crop, size=256), LandmarkRenderer(hd_crop, size=1024)
    f256, f1024 = r256.render(lm), r1024.render(lm)
    down = cv2.resize(f1024, (256, 256), interpolation=cv2.INTER_AREA)
    inner = lm[60:68]
    x0, y0 = np.floor(inner.min(0)).astype(int)
    x1, y1 = np.ceil(inner.max(0)).astype(int)
    a, b = f256[y0:y1, x0:x1].astype(np.float64), down[y0:y1, x0:x1].astype(np.float64)
    assert np.abs(a - b).mean() < 12  # the same look at both sizes
    assert r1024.mouth.grain.shape == (1024, 1024) and r1024.mouth.unit == 4.0
    assert r1024.mouth.lip_line == pytest.approx(4 * r256.mouth.lip_line + 1.5, abs=1e-6)
    assert r1024.eyes[0].opening == pytest.approx(4 * r256.eyes[0].opening, rel=1e-6)


def test_box_resampling_gives_the_bytes_of_a_whole_frame_remap(hd_crop):
    renderer = LandmarkRenderer(hd_crop, size=512)
    src = renderer.hires
    lm = _open(hd_crop.landmarks_px, 6.0)
    from eamm_core.engines.landmark import warp

    drv_pts, _ = warp.drive_points(renderer.mesh, lm)
    disp = renderer.field.displacement(drv_pts, [])
    whole = cv2.transform(cv2.resize(disp, (512, 512), interpolation=cv2.INTER_LINEAR), src._linear3) + src.base
    assert np.array_equal(src.sample(disp), src._remap(whole))


def test_job_manifest_records_the_sizes_and_frames_have_them(hd_paths, tmp_path):
    from eamm_core.job import JobSpec
    from eamm_core.pipeline import run_job

    spec = JobSpec(portrait=hd_paths[1], audio=shared_path("fixtures", "audio", "speech_7s.wav"), size="512",
                   paste_back=True, frame_end=3, write_mp4=False)
    result = run_job(spec, tmp_path / "out", cache_dir=tmp_path / "cache")
    manifest = json.loads(result.manifest.read_text())
    assert manifest["frame_size"]["requested"] == "512" and manifest["frame_size"]["output"] == 512
    assert manifest["frame_size"]["engine_native"] == 512 and manifest["frame_size"]["crop_span_px"] > 600
    frame = cv2.imread(str(result.frames_dir / "frame_000000.png"))
    pasted = cv2.imread(str(result.out_dir / "pasted" / "frame_000000.png"))
    assert frame.shape == (512, 512, 3) and pasted.shape == (1000, 807, 3)


def test_a_closing_lid_carries_the_photos_skin_detail(hd_crop):
    """At full resolution the painted lid is not a smooth fill: it carries about the fine detail of
    the skin under the eye (which a closed lid resembles)."""
    lm = np.array(hd_crop.landmarks_px, np.float64)
    shut = lm.copy()
    for up, low in ((37, 41), (38, 40), (43, 47), (44, 46)):
        shut[up] = lm[low] - 0.1 * (lm[low] - lm[up])
    renderer = LandmarkRenderer(hd_crop, size=1024)
    textured = renderer.render(shut)
    renderer._lid_detail = None
    smooth = renderer.render(shut)
    eye = 4 * lm[36:42] + 1.5
    x0, y0 = np.floor(eye.min(0)).astype(int)
    x1, y1 = np.ceil(eye.max(0)).astype(int)
    skin_y = y1 + 10  # a band of skin under the eye, the same size

    def energy(img, top):
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
        return float(cv2.Laplacian(grey, cv2.CV_64F)[top + 2:top + (y1 - y0) - 2, x0 + 4:x1 - 4].var())
    skin = energy(textured, skin_y)
    assert energy(textured, y0) > energy(smooth, y0)
    added = np.clip(textured.astype(np.int16) - smooth + 128, 0, 255).astype(np.uint8)  # what the detail adds
    assert 0.3 * skin < energy(added, y0) < 3.0 * skin  # about the skin's own, neither lost nor invented
