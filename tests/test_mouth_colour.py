"""The mouth interior takes the picture's own colour and light (engines/landmark/mouth_colour.py):
tinted, grey, eyes-closed, noisy and soft portraits, steadiness over frames, skull-fixed teeth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import portrait_path

cv2 = pytest.importorskip("cv2")

from eamm_core.engines.landmark import mouth_colour as mc
from eamm_core.engines.landmark.render import LandmarkRenderer


def _load(name: str):
    from eamm_core.prepare.portrait import load_portrait

    return load_portrait(portrait_path(name))


@pytest.fixture(scope="module", params=["astronaut.png", "60.png"])
def face_crop(request):
    """The sample portrait, and the real photograph 60.png when ../shared is present."""
    return _load(request.param)


def _down(lm: np.ndarray) -> tuple[np.ndarray, float]:
    el, er = lm[36:42].mean(0), lm[42:48].mean(0)
    iod = float(np.linalg.norm(er - el))
    ex = (er - el) / iod
    return np.array([-ex[1], ex[0]]), iod


def open_jaw(lm: np.ndarray, amount: float) -> np.ndarray:
    """Jaw, chin and lower lip down by ``amount`` x 0.35 inter-ocular distances (upper lip still)."""
    lm = np.asarray(lm, np.float64).copy()
    down, iod = _down(lm)
    w = np.zeros(68)
    w[[5, 11]], w[[6, 10]], w[[7, 9]], w[8] = 0.35, 0.6, 0.85, 1.0
    w[[55, 59]], w[[56, 57, 58, 65, 66, 67]], w[[48, 54, 60, 64]], w[[4, 12]] = 0.6, 0.9, 0.35, 0.15
    return (lm + np.outer(w * 0.35 * iod * amount, down)).astype(np.float32)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return mc.to_lab(np.asarray(rgb, np.float32).reshape(-1, 3))


def teeth_lab(frame: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Median CIELAB of the bright pixels inside the driven inner lips (the painted teeth)."""
    px = _lab(frame[mc.polygon_mask(frame.shape, lm[60:68])])
    keep = px[:, 0] >= max(35.0, float(np.percentile(px[:, 0], 95)) - 18.0)
    assert keep.sum() >= 6, "no teeth visible in the open mouth"
    return np.median(px[keep], axis=0)


def _recolour(crop, fn):
    return replace(crop, image=np.clip(fn(crop.image.astype(np.float32)), 0, 255).astype(np.uint8))


def _teeth_of(crop, amount: float = 1.0) -> np.ndarray:
    drv = open_jaw(crop.landmarks_px, amount)
    return teeth_lab(LandmarkRenderer(crop).render(drv), drv)


@pytest.mark.parametrize("tint,sign_a,sign_b", [((1.12, 1.0, 0.82), 0, +1), ((0.85, 1.0, 1.15), 0, -1),
                                               ((0.9, 1.12, 0.9), -1, 0)])
def test_teeth_follow_a_synthetic_tint_of_the_portrait(face_crop, tint, sign_a, sign_b):
    base = _teeth_of(face_crop)
    tinted = _recolour(face_crop, lambda im: im * np.array(tint, np.float32))
    d = _teeth_of(tinted) - base
    if sign_b:
        assert np.sign(d[2]) == sign_b and abs(d[2]) > 3.0, f"b* should move {sign_b:+d}, moved {d[2]:+.1f}"
    if sign_a:
        assert np.sign(d[1]) == sign_a and abs(d[1]) > 3.0, f"a* should move {sign_a:+d}, moved {d[1]:+.1f}"


def test_a_black_and_white_portrait_gets_grey_teeth_and_a_grey_mouth():
    face_crop = _load("60.png")  # closed lips: the smiling sample's own teeth would fill the cavity
    grey = _recolour(face_crop, lambda im: np.repeat((im @ mc.LUMA)[..., None], 3, axis=2))
    drv = open_jaw(grey.landmarks_px, 1.0)
    frame = LandmarkRenderer(grey).render(drv)
    teeth = teeth_lab(frame, drv)
    assert np.hypot(teeth[1], teeth[2]) < 1.0, f"teeth chroma {np.hypot(teeth[1], teeth[2]):.2f} in a grey picture"
    mouth = _lab(frame[mc.polygon_mask(frame.shape, drv[60:68])])
    assert np.abs(mouth[:, 1:]).max() < 2.0, "the cavity and tongue of a grey picture must be grey too"
    assert teeth[0] > np.percentile(mouth[:, 0], 25) + 25, "teeth should stand out from the dark cavity"


def _closed_eyes(crop):
    """The eyes painted over with the skin under them and their lids' landmarks shut."""
    image, lm = crop.image.copy(), crop.landmarks_px.astype(np.float64).copy()
    for i in (36, 42):
        eye = lm[i:i + 6]
        centre = eye.mean(0)
        below = image[int(centre[1] + 12), int(centre[0])].copy()
        cv2.fillPoly(image, [np.round((eye - centre) * 1.4 + centre).astype(np.int32)], below.tolist())
        for up, low in ((i + 1, i + 5), (i + 2, i + 4)):
            lm[up] = lm[low] = 0.5 * (lm[up] + lm[low])
    return replace(crop, image=image, landmarks_px=lm.astype(np.float32))


def test_eyes_closed_falls_back_to_the_skin_and_still_gives_plausible_teeth(face_crop):
    closed = _closed_eyes(face_crop)
    look = mc.mouth_look(closed.image, closed.landmarks_px)
    assert mc.mouth_look(face_crop.image, face_crop.landmarks_px).sclera_seen and not look.sclera_seen
    teeth = _teeth_of(closed)
    face = _lab(closed.image[mc.polygon_mask(closed.image.shape, closed.landmarks_px[np.r_[0:17, 26:16:-1]])])
    skin = np.median(face, axis=0)
    assert teeth[0] > skin[0] - 10, "teeth should be about as light as the skin's highlights"
    assert np.hypot(teeth[1], teeth[2]) < 0.8 * np.hypot(skin[1], skin[2]), "teeth less coloured than skin"
    assert teeth[2] > 0, "teeth of a warm-skinned photo should lean warm (b* > 0), not blue"
    assert np.linalg.norm(teeth - _teeth_of(face_crop)) < 15, "the fallback should stay near the eye-white estimate"


def test_dark_eyes_count_as_no_sclera(face_crop):
    """Sunglasses: the eye polygons are dark, so their brightest quarter is not a white."""
    image = face_crop.image.copy()
    for i in (36, 42):
        cv2.fillPoly(image, [np.round(face_crop.landmarks_px[i:i + 6]).astype(np.int32)], (20, 20, 24))
    assert not mc.mouth_look(image, face_crop.landmarks_px).sclera_seen


def test_teeth_colour_is_steady_across_frames(face_crop):
    renderer = LandmarkRenderer(face_crop)
    labs = []
    for k, amount in enumerate(np.linspace(0.7, 1.2, 8)):
        drv = open_jaw(face_crop.landmarks_px, amount) + np.array([0.7 * k - 2.0, 0.3 * k], np.float32)
        labs.append(teeth_lab(renderer.render(drv), drv))
    spread = np.std(np.array(labs)[:, 1:], axis=0)
    assert spread.max() < 1.0, f"teeth (a*, b*) vary by {spread} across frames"


def test_upper_teeth_keep_their_place_below_the_nose_as_the_jaw_opens(face_crop):
    renderer = LandmarkRenderer(face_crop)
    edges, lower = [], []
    for amount in (0.8, 1.0, 1.2):
        drv = open_jaw(face_crop.landmarks_px, amount)
        frame = cv2.cvtColor(renderer.render(drv), cv2.COLOR_RGB2GRAY).astype(np.float32)
        x = int(round(drv[[62, 66], 0].mean()))
        top, bottom = int(np.ceil(drv[62, 1])), int(drv[66, 1])
        column = frame[top:bottom, x - 1:x + 2].mean(1)
        bright = column > 0.5 * (column.max() + column.min())
        first_dark = int(np.argmin(bright[np.argmax(bright):])) + int(np.argmax(bright))
        edges.append(top + first_dark - drv[33, 1])  # below the nose tip
        lower.append(drv[66, 1] - drv[33, 1])
    assert np.ptp(lower) > 6, "the test should open the jaw visibly"
    assert np.ptp(edges) <= 1.5, f"the upper teeth's edge moved {edges} px below the nose"


def test_grain_and_softness_are_measured_from_the_picture(face_crop):
    base = mc.mouth_look(face_crop.image, face_crop.landmarks_px)
    noise = np.random.default_rng(3).normal(0, 6, face_crop.image.shape).astype(np.float32)
    noisy = _recolour(face_crop, lambda im: im + noise)
    soft = _recolour(face_crop, lambda im: cv2.GaussianBlur(im, (0, 0), 2.0))
    assert base.grain < 1.5 and mc.mouth_look(noisy.image, noisy.landmarks_px).grain > 3.0
    assert mc.mouth_look(soft.image, soft.landmarks_px).blur_sigma > base.blur_sigma + 1.0
    # and the painted teeth follow: a soft picture gives teeth with weaker edges
    drv = open_jaw(face_crop.landmarks_px, 1.0)
    box = (slice(int(drv[60:68, 1].min()), int(drv[60:68, 1].max()) + 1),
           slice(int(drv[60:68, 0].min()), int(drv[60:68, 0].max()) + 1))

    def edge_energy(crop) -> float:
        grey = cv2.cvtColor(LandmarkRenderer(crop).render(drv), cv2.COLOR_RGB2GRAY).astype(np.float32)[box]
        return float(np.abs(np.diff(grey, axis=0)).mean())

    assert edge_energy(soft) < 0.8 * edge_energy(face_crop)


# --- the bench's open-mouth figures (bench/quality_helpers.py) ------------------------------------


def _bench_helpers():
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "bench"))
    import quality_helpers

    return quality_helpers


def _synthetic_mouth(teeth_rgb, cavity_rgb=(40, 10, 10)):
    """A grey frame with an open inner-lip polygon: teeth in its top third, cavity below; landmarks."""
    lm = np.zeros((68, 2), np.float32)
    lm[48], lm[54] = (88, 140), (168, 140)
    inner = [(100, 130), (115, 126), (128, 125), (141, 126), (156, 130), (141, 156), (128, 158), (115, 156)]
    lm[60:68] = inner
    lm[[49, 50, 51, 52, 53]] = [(100, 128), (115, 124), (128, 123), (141, 124), (156, 128)]
    lm[[55, 56, 57, 58, 59]] = [(156, 160), (141, 162), (128, 164), (115, 162), (100, 160)]
    frame = np.full((256, 256, 3), 128, np.uint8)
    cv2.fillPoly(frame, [np.array(inner, np.int32)], cavity_rgb)
    cv2.rectangle(frame, (105, 124), (151, 135), teeth_rgb, -1)
    return frame, lm


def test_bench_teeth_colour_and_mouth_region_figures():
    H = _bench_helpers()
    real, lm = _synthetic_mouth((230, 220, 200))
    same = H.mouth_scores(real[None], lm[None], real[None], lm[None])
    assert same.open_frames == 1 and same.teeth_frames == 1
    assert same.teeth_delta_e == 0.0 and same.ssim == pytest.approx(1.0) and np.isinf(same.psnr)
    bluish, _ = _synthetic_mouth((200, 215, 240))
    other = H.mouth_scores(bluish[None], lm[None], real[None], lm[None])
    want = np.linalg.norm(mc.to_lab(np.array([200, 215, 240], np.float32))
                          - mc.to_lab(np.array([230, 220, 200], np.float32)))
    assert other.teeth_delta_e == pytest.approx(want, abs=1.0)
    assert other.teeth_chroma > 15 and other.ssim < 1.0 and np.isfinite(other.psnr)
    closed = lm.copy()
    closed[65:68] = closed[[63, 62, 61]]  # lips shut: no open-mouth frame, nothing measured
    none = H.mouth_scores(real[None], closed[None], real[None], closed[None])
    assert none.open_frames == 0 and np.isnan(none.teeth_delta_e)
