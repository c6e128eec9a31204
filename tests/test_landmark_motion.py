"""Landmark engine, motion half: groups, 3D head model, visemes/mouth, blinks, pose, emotion, presets.

Mostly synthetic data (fast); phone recognition reads 2.4 s of the shared speech fixture."""

from __future__ import annotations

import numpy as np
import pytest

from eamm_core.engines.landmark import blink, emotion, groups, mouth, pose, visemes
from eamm_core.engines.landmark.phonemes import PhoneSegments
from eamm_core.errors import InputError
from eamm_core.geometry import head3d
from eamm_core.prepare.faces import load_template
from eamm_core.types import EmotionPreset, Keypoints, PoseTrack

ARPABET = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW "
           "V W Y Z ZH").split()


def _src() -> np.ndarray:
    return load_template().astype(np.float64)


def _phones(spec: list[tuple[str, float, float]]) -> PhoneSegments:
    return PhoneSegments(tuple(p for p, _, _ in spec), np.array([a for _, a, _ in spec]),
                         np.array([b for _, _, b in spec]), "recognition")


# --- groups -------------------------------------------------------------------------------------

def test_groups_cover_all_landmarks_and_face_keypoints_are_upper_face():
    assert groups.NUM_KEYPOINTS == 10
    assert (groups.MEMBERSHIP.sum(1) >= 1).all()
    face = set().union(*[groups.GROUPS[g] for g in groups.FACE_KEYPOINTS])
    assert face == set(range(17, 27)) | set(range(36, 48))  # brows and eyes, nothing of the mouth/jaw


def test_keypoint_round_trip_is_exact_for_per_group_affine_motion():
    src = _src()
    rng = np.random.default_rng(0)
    drv = np.repeat(src[None], 3, 0)
    for g, idx in enumerate(groups.GROUPS):
        if g in (groups.UPPER_LIP, groups.LOWER_LIP):
            continue  # they share the corners; moved together below
        a = np.eye(2) + rng.normal(0, 0.1, (3, 2, 2))
        ix = list(idx)
        c = src[ix].mean(0)
        drv[:, ix] = c + rng.normal(0, 3, (3, 1, 2)) + np.einsum("tij,nj->tni", a, src[ix] - c)
    lips = sorted(set(groups.GROUPS[groups.UPPER_LIP]) | set(groups.GROUPS[groups.LOWER_LIP]))
    drv[:, lips] = src[lips] + np.array([4.0, -2.0])
    kp = groups.keypoints_from_landmarks(src, drv)
    assert kp.value.shape == (3, 10, 2) and kp.jacobian.shape == (3, 10, 2, 2)
    back = groups.landmarks_from_keypoints(src, kp)
    assert np.abs(back - drv).max() < 0.05
    ident = groups.keypoints_from_landmarks(src, src[None])
    assert np.allclose(ident.jacobian, np.eye(2), atol=1e-5)


def test_lower_lip_translation_opens_the_mouth_through_keypoints():
    src = _src()
    track = mouth.MouthTrack(np.array([0.0, 0.3]), np.ones(2), np.zeros(2), np.zeros(2), np.zeros(2),
                             np.array([True, False]))
    drv = mouth.apply_mouth(src, track)
    back = groups.landmarks_from_keypoints(src, groups.keypoints_from_landmarks(src, drv))
    iod = mouth.inter_ocular(src)
    assert mouth.inner_gap(back[0]) == pytest.approx(0.0, abs=0.5)
    assert mouth.inner_gap(back[1]) == pytest.approx(0.3 * iod, rel=0.15)
    assert back[1, 8, 1] > src[8, 1] + 0.15 * iod  # the chin drops with the jaw


# --- 3D head ------------------------------------------------------------------------------------

def test_mean_face_is_symmetric_with_the_nose_in_front():
    x = head3d.mean_face_3d()
    assert np.allclose(x[head3d.MIRROR, 0], -x[:, 0]) and np.allclose(x[head3d.MIRROR, 1:], x[:, 1:])
    assert x[30, 2] == x[:, 2].max() and x[0, 2] < -0.5


@pytest.mark.parametrize("angles", [(15, 0, 0), (-20, 7, -5), (0, -10, 12)])
def test_estimate_pose_recovers_projected_poses(angles):
    truth = head3d.HeadPose(*angles, 70.0, 130.0, 118.0)
    fit = head3d.estimate_pose(head3d.project(head3d.mean_face_3d(), truth))
    assert np.allclose(fit.as_array(), truth.as_array(), atol=1e-3)


def test_yaw_sign_follows_3ddfa_nose_to_image_left():
    lm = head3d.project(head3d.mean_face_3d(), head3d.HeadPose(15, 0, 0, 60, 128, 120))
    assert lm[30, 0] < (lm[36, 0] + lm[45, 0]) / 2 - 5


def test_curve_pose_is_absolute_and_measured_back():
    from eamm_core.geometry.pose_units import pose_from_artist

    src = _src()
    portrait = head3d.estimate_pose(src)
    track = PoseTrack(pose_from_artist(np.full(4, 15.0), 0.0, 0.0), source="curve")
    targets = pose.target_poses(track, portrait, 4, idle=False, seed=0)
    drv = pose.repose_sequence(np.repeat(src[None], 4, 0), portrait, targets)
    assert abs(head3d.estimate_pose(drv[2]).yaw - 15.0) < 1.0
    scale = mouth.inter_ocular(drv[2]) / mouth.inter_ocular(src)
    assert 0.9 < scale < 1.02  # the face keeps its size (foreshortened a little by the turn)


def test_pose_fit_trusts_the_inner_points_more_than_the_sliding_jaw_contour():
    truth = head3d.HeadPose(15.0, 0.0, 0.0, 60.0, 128.0, 120.0)
    lm = head3d.project(head3d.mean_face_3d(), truth)
    slid = lm.copy()
    slid[0:6, 0] -= 5.0  # the far side's outline found 5 px outside the turned jaw (a silhouette)
    weighted = head3d.estimate_pose(slid).yaw
    w = head3d.fit_weights()
    assert w[36] == w[30] == 1.0 and 0 < w[2] < 0.5 and w[8] == 0.0  # contour down-weighted, lower jaw out
    equal = head3d.estimate_pose(slid, weights=(w > 0).astype(float)).yaw  # every fit point weighted 1
    # the contour has a long lever (far from the centre, deep), so even at 0.3 it still pulls, but less
    assert abs(weighted - 15.0) < 0.85 * abs(equal - 15.0), (weighted, equal)
    assert abs(head3d.estimate_pose(lm).yaw - 15.0) < 1e-6  # the weights change nothing on an exact fit


def test_keypoints_carry_the_requested_turn_and_a_still_head_is_untouched():
    from eamm_core.geometry.pose_units import pose_from_artist

    src = _src()
    portrait = head3d.estimate_pose(src)
    track = PoseTrack(pose_from_artist(np.array([15.0, 15.0, -20.0]), 5.0, 0.0), source="curve")
    plain = pose.target_poses(track, portrait, 3, idle=False, seed=0)
    fixed = pose.target_poses(track, portrait, 3, idle=False, seed=0, src_lm=src)

    def seen(targets):  # what the renderer gets: re-posed landmarks through the ten group affines
        drv = pose.repose_sequence(np.repeat(src[None], 3, 0), portrait, targets)
        return groups.landmarks_from_keypoints(src, groups.keypoints_from_landmarks(src, drv))

    for t, (yaw, pitch) in enumerate([(15.0, 5.0), (15.0, 5.0), (-20.0, 5.0)]):
        got = head3d.estimate_pose(seen(fixed)[t])
        assert abs(got.yaw - yaw) < 0.2 and abs(got.pitch - pitch) < 0.2, (t, got)
    assert abs(head3d.estimate_pose(seen(plain)[2]).yaw + 20.0) > abs(head3d.estimate_pose(seen(fixed)[2]).yaw + 20.0)
    assert fixed[0] == fixed[1]  # equal poses, equal corrections
    still = pose.target_poses(PoseTrack(np.zeros((4, 6)), "none"), portrait, 4, idle=False, seed=0, src_lm=src)
    assert np.abs(pose.repose_sequence(np.repeat(src[None], 4, 0), portrait, still) - src).max() < 1e-6


def test_no_pose_keeps_the_head_still_and_idle_motion_is_seeded_and_small():
    src = _src()
    portrait = head3d.estimate_pose(src)
    still = pose.target_poses(PoseTrack(np.zeros((50, 6)), "none"), portrait, 50, idle=False, seed=0)
    assert np.abs(pose.repose_sequence(np.repeat(src[None], 50, 0), portrait, still) - src).max() < 1e-6
    a, b, c = (pose.idle_motion(250, s) for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert np.abs(a).max() <= 2.6 and np.abs(a[:, 0]).max() > 0.3
    assert np.abs(np.diff(a, axis=0)).max() < 0.2  # slow: under 0.2 degrees a frame


# --- visemes and mouth ----------------------------------------------------------------------------

def test_every_arpabet_phone_has_a_viseme():
    for p in ARPABET:
        assert visemes.PHONE_TO_VISEME[p] in visemes.VISEMES or p == "HH"
    assert visemes.viseme_of("AA1") == "aa" and visemes.viseme_of("M") == "PP"


def test_bilabial_closes_the_lips_inside_fast_speech_and_silence_rests():
    ph = _phones([("SIL", 0.0, 0.4), ("AA", 0.4, 0.56), ("M", 0.56, 0.62), ("AA", 0.62, 0.8), ("SIL", 0.8, 1.6)])
    loud = np.concatenate([np.full(10, 0.1), np.full(10, 0.8), np.full(20, 0.1)])
    tr = mouth.mouth_track(ph, loud, 40)
    m_frame = int(np.floor((0.59 - mouth.LEAD_S) * 25))
    assert tr.closed[m_frame] and tr.open[m_frame] == 0.0
    assert tr.open[m_frame - 3] > 0.15 and tr.open[m_frame + 3] > 0.15  # open vowels around it
    assert (tr.open[:7] < 0.02).all() and (tr.open[25:] < 0.02).all()  # rest in silence


def test_louder_speech_opens_wider_and_the_mouth_leads_the_sound():
    ph = _phones([("SIL", 0.0, 0.4), ("AA", 0.4, 0.8), ("SIL", 0.8, 1.2), ("AA", 1.2, 1.6), ("SIL", 1.6, 2.0)])
    frames = np.arange(50)
    loud = np.full(50, 0.05)
    loud[(frames >= 10) & (frames < 20)] = 0.5  # the same vowel, quietly ...
    loud[(frames >= 30) & (frames < 40)] = 0.9  # ... and loudly
    tr = mouth.mouth_track(ph, loud, 50)
    assert tr.open[32:38].mean() > tr.open[12:18].mean() * 1.2
    assert tr.open[29] > tr.open[40]  # opens before the vowel is heard (frame 30), closes early too


def test_labiodental_tucks_the_lower_lip_and_rounding_narrows():
    ph = _phones([("F", 0.0, 0.3), ("UW", 0.3, 0.8), ("IY", 0.8, 1.2)])
    tr = mouth.mouth_track(ph, np.full(30, 0.8), 30)
    assert tr.tuck[2] > 0.5 and tr.round[12] > 0.6 and tr.width[25] > tr.width[12]


# --- blinks ---------------------------------------------------------------------------------------

def test_blinks_are_seeded_natural_and_can_be_turned_off():
    a, b, c = blink.blink_curve(1500, 7), blink.blink_curve(1500, 7), blink.blink_curve(1500, 8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    starts = np.flatnonzero((a[1:] > 0) & (a[:-1] == 0)) + 1
    assert 8 <= len(starts) <= 25  # per minute
    assert np.diff(starts).min() >= 25 * blink.MIN_GAP_S - 1
    assert not blink.blink_curve(1500, 7, enabled=False).any()
    lm = np.repeat(_src()[None], 2, 0)
    shut = blink.apply_blinks(lm, np.array([0.0, 1.0]))
    open_h = lm[0, 41, 1] - lm[0, 37, 1]
    assert shut[1, 41, 1] - shut[1, 37, 1] < 0.2 * open_h and np.allclose(shut[0], lm[0])


# --- emotion --------------------------------------------------------------------------------------

def _clip(n: int, brow_raise: float, squint: float = 0.0) -> np.ndarray:
    base = _src()
    out = np.repeat(base[None], n, 0)
    out[:, 17:27, 1] -= brow_raise
    for up, lo in (([37, 38, 43, 44], [41, 40, 47, 46]),):
        out[:, up, 1] += squint
    out[:, 61:64, 1] += np.sin(np.arange(n))[:, None] * 3  # speech in the clip must not leak
    return out


def test_emotion_uses_a_given_neutral_and_excludes_the_mouth():
    clip = _clip(30, brow_raise=6.0)
    neutral = _clip(5, brow_raise=0.0)
    kp, offsets, ref = emotion.clip_displacements(clip, neutral)
    assert ref.kind == "given"
    assert np.abs(offsets[:, 48:68]).max() == 0.0 and np.abs(offsets[:, :17]).max() == 0.0
    iod = mouth.inter_ocular(_src())
    assert kp.value[:, 0, 1].mean() == pytest.approx(-6.0 / iod, rel=0.1)  # brows up, unit face
    assert abs(kp.value[:, 2, 1].mean()) < 0.01  # the eyes did not move


def test_emotion_finds_near_neutral_frames_in_the_clip_or_falls_back_to_canonical():
    lift = emotion.CANONICAL_BROW_LIFT * mouth.inter_ocular(_src())
    mixed = np.concatenate([_clip(10, brow_raise=lift), _clip(30, brow_raise=lift + 8.0)])
    kp, _, ref = emotion.clip_displacements(mixed)
    assert ref.kind == "clip-frames"
    assert kp.value[15:, 0, 1].mean() < -0.08 and abs(kp.value[:5, 0, 1].mean()) < 0.03
    always = _clip(30, brow_raise=lift + 8.0)  # starts in its emotion: no neutral frame at all
    kp2, _, ref2 = emotion.clip_displacements(always)
    assert ref2.kind == "canonical"
    assert kp2.value[:, 0, 1].mean() < -0.08  # still clearly raised brows, from the first frame


def test_emotion_filters_blinks_out_of_the_eye_motion():
    clip = _clip(40, brow_raise=0.0)
    clip[20:24] = blink.apply_blinks(clip[20:24], np.ones(4))
    kp, _, _ = emotion.clip_displacements(clip, _clip(3, 0.0))
    assert np.abs(kp.jacobian[:, 2]).max() < 0.05


# --- presets --------------------------------------------------------------------------------------

def test_preset_round_trip_and_bad_files(tmp_path):
    from eamm_core.presets import load_preset, save_preset

    kp = Keypoints(np.full((5, 3, 2), 0.1, np.float32), np.zeros((5, 3, 2, 2), np.float32))
    path = save_preset(EmotionPreset("calm", kp, np.zeros((5, 68, 2), np.float32),
                                     meta={"reference": "given"}), tmp_path / "calm.npz")
    back = load_preset(path)
    assert back.name == "calm" and np.array_equal(back.displacements.value, kp.value)
    assert back.meta["reference"] == "given" and len(back.sha256) == 64
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.npz"):
        load_preset(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", value=np.zeros((2, 3, 2)))
    with pytest.raises(InputError, match="not an emotion preset"):
        load_preset(tmp_path / "other.npz")


def test_committed_demo_preset_loads_and_carries_emotion():
    from pathlib import Path

    from eamm_core.presets import load_preset

    preset = load_preset(Path(__file__).resolve().parents[1] / "samples" / "happy.npz")
    assert len(preset.displacements) > 25 and preset.meta["source"] == "happy.mp4"
    assert np.abs(preset.displacements.value).mean() > 0.005


def test_long_silences_return_to_the_portraits_lips_and_short_pauses_close():
    from eamm_core.engines.landmark import mouth
    from eamm_core.engines.landmark.phonemes import PhoneSegments

    n = 100  # speech, a 0.2 s pause, speech, a 1.2 s silence, speech, then silence to the end
    loud = np.full(n, 0.8)
    loud[20:25] = 0.0
    loud[45:75] = 0.0
    loud[85:] = 0.0
    ph = PhoneSegments(("AA",), np.array([0.0]), np.array([n / 25.0]), "recognition")
    tr = mouth.mouth_track(ph, loud, n, rest_open=0.05)
    assert tr.open[22] == 0.0  # a short pause: lips together
    assert np.allclose(tr.open[50:69], 0.05)  # deep in a long silence: the portrait's own lips
    assert np.all(np.diff(tr.open[46:51]) > 0) and np.all(np.diff(tr.open[68:73]) < 0)  # easing in and out
    assert np.allclose(tr.open[90:], 0.05)  # a silence that ends the clip stays at rest to the end
    quiet = mouth.mouth_track(ph, np.zeros(n), n, rest_open=0.05)  # a silent clip: the portrait throughout
    assert np.allclose(quiet.open, 0.05)
    closed = mouth.mouth_track(ph, loud, n)  # a closed-lips portrait: every silence closed
    assert closed.open[60] == 0.0 and closed.closed[60]
