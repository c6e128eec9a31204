"""The neural engine on a tiny synthetic model: shapes, smoothing, emotion weights, batching, precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from neural_synthetic import make_tiny_model

from eamm_core.engines.base import EngineOptions, combine, get_engine
from eamm_core.engines.neural import smoothing
from eamm_core.engines.neural.engine import NeuralEngine, images_to_tensor, relative_keypoints
from eamm_core.engines.neural.models.keypoint_heads import KeypointTensors
from eamm_core.errors import EammError, ModelNotFoundError
from eamm_core.types import AudioFeatures, EmotionClip, EmotionPreset, Keypoints, PortraitCrop, PoseTrack

T = 7


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.set_num_threads(2)
    return make_tiny_model(tmp_path_factory.mktemp("tiny_model"))


def _engine(model_dir, **kw) -> NeuralEngine:
    return get_engine("neural", EngineOptions(model_dir=model_dir, device="cpu", **kw))


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    eye = np.eye(3, dtype=np.float32)
    crop = PortraitCrop(image=img, mask=np.ones((256, 256), np.float32), landmarks_px=np.zeros((68, 2), np.float32),
                        source_landmarks_px=np.zeros((68, 2), np.float32), crop_from_source=eye, source_from_crop=eye,
                        original=img, face_box=(0, 0, 256, 256))
    windows = rng.normal(0, 15, (T, 28, 12)).astype(np.float32)
    audio = AudioFeatures(samples=np.zeros(16000, np.float32), sample_rate=16000, mfcc=np.zeros((40, 13)),
                          windows=windows, loudness=np.zeros(T, np.float32))
    pose = PoseTrack(np.tile(np.array([[2.0, -3.0, 1.0, 0.0005, 63.0, 72.0]], np.float32), (T, 1))
                     + rng.normal(0, 1, (T, 6)).astype(np.float32))
    frames = rng.integers(0, 256, (4, 256, 256, 3), dtype=np.uint8)
    clip = EmotionClip(aligned=frames, augmented=frames, landmarks_px=np.zeros((4, 68, 2), np.float32),
                       source_index=np.arange(4), fps=25.0, seed=0)
    return crop, audio, pose, clip


def test_without_a_model_one_line_says_how_to_install(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        get_engine("neural", EngineOptions(model_dir=tmp_path / "none"))
    assert "eamm convert-checkpoint" in str(err.value) and "\n" not in str(err.value)


def test_motion_shapes_and_smoothing(model_dir, inputs):
    crop, audio, pose, _ = inputs
    smooth, raw = _engine(model_dir), _engine(model_dir, smooth=False)
    kp_s = smooth.source_keypoints(crop)
    assert kp_s.value.shape == (1, 10, 2) and kp_s.jacobian.shape == (1, 10, 2, 2)
    a, b = smooth.audio_keypoints(crop, audio, pose), raw.audio_keypoints(crop, audio, pose)
    assert a.value.shape == (T, 10, 2) and a.jacobian.shape == (T, 10, 2, 2)
    np.testing.assert_allclose(a.value[0], b.value[0], atol=1e-6)  # first sample passes through the filter
    assert np.abs(a.value - b.value).max() > 1e-4  # later ones are filtered
    np.testing.assert_allclose(smoothing.smooth_keypoints(b, smoothing.AUDIO_KP).value, a.value, atol=1e-6)


def test_audio_keypoints_do_not_depend_on_batch_size(model_dir, inputs):
    crop, audio, pose, _ = inputs
    a = _engine(model_dir, batch_size=1, smooth=False).audio_keypoints(crop, audio, pose)
    b = _engine(model_dir, batch_size=5, smooth=False).audio_keypoints(crop, audio, pose)
    np.testing.assert_allclose(a.value, b.value, atol=1e-5)


def test_emotion_displacements_weighted_like_the_reference(model_dir, inputs):
    crop, audio, pose, clip = inputs
    eng = _engine(model_dir, smooth=False)
    kp_a = eng.audio_keypoints(crop, audio, pose)
    delta = eng.emotion_displacements(clip, kp_a, crop)
    assert delta.value.shape == (T, 3, 2) and delta.jacobian.shape == (T, 3, 2, 2)
    t = 5  # clip has 4 frames: frame 5 reads clip frame 1 (cyclic, like the demo's np.resize)
    with torch.inference_mode():
        out = eng.net.emotion(images_to_tensor(clip.augmented[1:2], eng.device), torch.from_numpy(kp_a.value[t:t + 1]),
                              torch.from_numpy(kp_a.jacobian[t:t + 1])).displacements
    np.testing.assert_allclose(delta.value[t, 0], 0.2 * out.value[0, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(delta.value[t, 1:], out.value[0, 1:3].numpy(), atol=1e-5)
    combined = combine(eng, kp_a, delta, np.full(T, 0.5, np.float32))
    np.testing.assert_allclose(combined.value[:, 4], kp_a.value[:, 4] + 0.5 * delta.value[:, 1], atol=1e-6)
    np.testing.assert_array_equal(combined.value[:, 0], kp_a.value[:, 0])


def test_emotion_preset_is_refused(model_dir, inputs):
    crop, audio, pose, _ = inputs
    eng = _engine(model_dir)
    preset = EmotionPreset("happy", Keypoints(np.zeros((T, 3, 2), np.float32), np.zeros((T, 3, 2, 2), np.float32)))
    with pytest.raises(EammError, match="needs an emotion clip"):
        eng.emotion_displacements(preset, eng.audio_keypoints(crop, audio, pose), crop)


def test_render_matches_the_generator_and_is_batch_invariant(model_dir, inputs):
    crop, audio, pose, _ = inputs
    e1, e4 = _engine(model_dir, batch_size=1), _engine(model_dir, batch_size=4)
    kp_s = e1.source_keypoints(crop)
    kp_d = e1.audio_keypoints(crop, audio, pose)
    f1 = dict(e1.render(crop, kp_s, kp_d, range(T)))
    f4 = dict(e4.render(crop, kp_s, kp_d, [6, 2, 3]))
    assert sorted(f4) == [2, 3, 6] and f1[2].shape == (256, 256, 3) and f1[2].dtype == np.uint8
    for i in f4:
        assert np.abs(f4[i].astype(int) - f1[i]).max() <= 1
    assert np.abs(f1[0].astype(int) - f1[6]).max() > 0
    src = images_to_tensor(crop.image[None], e1.device)
    with torch.inference_mode():
        ref = e1.net.generator(src, KeypointTensors(torch.from_numpy(kp_d.value[3:4]), torch.from_numpy(kp_d.jacobian[3:4])),
                               KeypointTensors(torch.from_numpy(kp_s.value), torch.from_numpy(kp_s.jacobian))).prediction
    want = (ref[0].permute(1, 2, 0).numpy() * 255).round().clip(0, 255)
    assert np.abs(f1[3] - want).max() <= 1


def test_relative_mode_first_frame_is_the_source_pose(inputs):
    rng = np.random.default_rng(0)
    kp_s = Keypoints(rng.normal(0, 0.3, (1, 10, 2)).astype(np.float32),
                     (np.eye(2) + rng.normal(0, 0.1, (1, 10, 2, 2))).astype(np.float32))
    kp_d = Keypoints(rng.normal(0, 0.3, (4, 10, 2)).astype(np.float32),
                     (np.eye(2) + rng.normal(0, 0.1, (4, 10, 2, 2))).astype(np.float32))
    rel = relative_keypoints(kp_s, kp_d)
    np.testing.assert_allclose(rel.value[0], kp_s.value[0], atol=1e-6)
    np.testing.assert_allclose(rel.jacobian[0], kp_s.jacobian[0], atol=1e-5)
    np.testing.assert_allclose(rel.value[3] - rel.value[1], kp_d.value[3] - kp_d.value[1], atol=1e-6)


def test_bf16_close_to_fp32(model_dir, inputs):
    crop, audio, pose, _ = inputs
    e32, e16 = _engine(model_dir), _engine(model_dir, precision="bf16")
    kp_s = e32.source_keypoints(crop)
    kp_d = e32.audio_keypoints(crop, audio, pose)
    a = np.stack([f for _, f in e32.render(crop, kp_s, kp_d, range(3))]).astype(np.float64)
    b = np.stack([f for _, f in e16.render(crop, kp_s, kp_d, range(3))]).astype(np.float64)
    mse = np.mean((a - b) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-12)) > 30
    with pytest.raises(EammError, match="precision"):
        _engine(model_dir, precision="int4")


def test_one_euro_filter_properties():
    x = np.concatenate([np.zeros(20), np.ones(40)])[:, None]
    y = smoothing.one_euro_filter(x, mincutoff=1.0, beta=0.0)
    assert y[0, 0] == 0 and np.all(np.diff(y[:, 0]) >= -1e-12)  # monotone step response, no overshoot
    assert 0 < y[20, 0] < 1 and y[-1, 0] > 0.9
    const = np.full((10, 3), 0.7)
    np.testing.assert_allclose(smoothing.one_euro_filter(const, 0.05, 8.0), const)


def test_batchnorm_folding_keeps_the_outputs(model_dir, inputs):
    from eamm_core.engines.neural import checkpoint

    crop, audio, pose, clip = inputs
    eng = _engine(model_dir, smooth=False)
    plain, _ = checkpoint.load_model(model_dir)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in eng.net.generator.decoder.modules())
    src = images_to_tensor(crop.image[None], eng.device)
    with torch.inference_mode():
        a, b = eng.net.keypoint_detector(src), plain.keypoint_detector(src)
        np.testing.assert_allclose(a.value.numpy(), b.value.numpy(), atol=1e-5)
        fa, fb = eng.net.emotion.extractor(src), plain.emotion.extractor(src)
        np.testing.assert_allclose(fa.feature.numpy(), fb.feature.numpy(), atol=1e-4, rtol=1e-4)
        pa = eng.net.generator(src, a, a).prediction
        pb = plain.generator(src, b, b).prediction
        np.testing.assert_allclose(pa.numpy(), pb.numpy(), atol=1e-5)


def test_kept_engine_reloads_only_when_model_device_or_precision_change(model_dir):
    eng = _engine(model_dir)
    net = eng.net
    eng.options = EngineOptions(model_dir=model_dir, device="cpu", seed=5, batch_size=3)
    assert eng.net is net and eng.batch_size == 3
    eng.options = EngineOptions(model_dir=model_dir, device="cpu", precision="bf16")
    assert eng.net is not net and eng.net.generator.final.weight.dtype == torch.bfloat16
