"""The neural engine's networks reproduce the reference (``../shared/golden/eamm_golden_v1.npz``).

Synthetic weights v1 are built by the golden rule, saved in the authors' layout (three ``.pth.tar``
files with optimizer states and epoch/step), converted with the product's converter into our format,
loaded strictly, and every stored array is compared within its tolerance (end-to-end chain from the
``in_*`` arrays, and stage by stage fed the stored inputs of each stage).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import shared_path
from neural_synthetic import parse_key_file, synthetic_state_dicts, tensor_sha256, write_author_checkpoints

from eamm_core.engines.neural import checkpoint, keymap
from eamm_core.engines.neural.models.keypoint_heads import KeypointTensors

ORDER = ("kp_detector", "generator", "kp_detector_a", "audio_feature", "emo_detector")
DRIVES = ("audio_t0", "audio_t5", "emo_t0", "emo_t5", "identity")
GEN_PARTS = ("mask", "occlusion_map", "deformed", "prediction", "sparse_deformed", "deformation")


@pytest.fixture(scope="module")
def golden():
    torch.set_num_threads(2)
    return np.load(shared_path("golden", "eamm_golden_v1.npz"), allow_pickle=False)


@pytest.fixture(scope="module")
def tolerances(golden):
    return json.loads(str(golden["meta_json"]))["tolerances"]


@pytest.fixture(scope="module")
def states(golden):
    keys = parse_key_file(shared_path("docs", "eamm_checkpoint_keys.txt"))
    return keys, synthetic_state_dicts(keys, golden["w_antialias_kernel_13x13"])


@pytest.fixture(scope="module")
def converted(states, tmp_path_factory):
    base = tmp_path_factory.mktemp("golden_model")
    sources = write_author_checkpoints(states[1], base / "authors")
    report = checkpoint.convert(sources, base / "model")
    for src in sources:
        src.unlink()  # ~0.5 GB; the converted folder is what the engine reads
    yield base / "model", report
    import shutil

    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def net(converted):
    model, _ = checkpoint.load_model(converted[0])
    return model


def test_synthetic_weights_reproduce_every_checksum(states, golden):
    keys, sd = states
    names = [f"{e}/{k}" for e in ORDER for k, _ in keys[e]]
    assert names == list(golden["w_keys"])
    hashes = [tensor_sha256(sd[e][k]) for e in ORDER for k, _ in keys[e]]
    matches = sum(a == b for a, b in zip(hashes, golden["w_sha256"]))
    assert matches == 804


def test_conversion_reports_dropped_submodules_and_ignored_entries(converted):
    _, report = converted
    assert report.taken == {"kp_detector": "124_52000.pth.tar", "generator": "124_52000.pth.tar",
                            "kp_detector_a": "1-6000.pth.tar", "audio_feature": "1-6000.pth.tar",
                            "emo_detector": "5-3000.pth.tar"}
    # KPDetector_a hourglass + down (71), the StyleGAN branch of AT_net2 (99), Emotion_k's fc/fc_n/final_4/final_10 (14)
    assert report.dropped["kp_detector_a"] == 71 and report.dropped["emo_detector"] == 14
    assert report.dropped["audio_feature"] == 99 and report.dropped["generator"] == 0
    assert any("optimizer_audio_feature" in line for line in report.ignored)
    manifest = json.loads((converted[0] / "manifest.json").read_text())
    assert manifest["keymap_version"] == keymap.KEYMAP_VERSION and len(manifest["sources"]) == 3


def _kp(value, jacobian) -> KeypointTensors:
    return KeypointTensors(torch.as_tensor(value), torch.as_tensor(jacobian))


def _generator(net, source, kp_d, kp_s) -> dict:
    out = net.generator(source, kp_d, kp_s)
    return {p: getattr(out, p).numpy() for p in GEN_PARTS}


@pytest.fixture(scope="module")
def chain(net, golden) -> dict:
    """The whole chain from the in_* arrays, batch 1 per call as the reference demo runs it."""
    got: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        src = torch.from_numpy(golden["in_source"])
        kd = net.keypoint_detector
        got["kp_source_down"] = kd.downsample(src).numpy()
        got["kp_source_feature_map"] = kd.features(src).numpy()
        kp_s = kd(src)
        got.update(kp_source_value=kp_s.value.numpy(), kp_source_jacobian=kp_s.jacobian.numpy(),
                   kp_source_heatmap=kp_s.heatmap.numpy())
        seq = net.a2fd.sequence(src, torch.from_numpy(golden["in_mfcc_windows"]), torch.from_numpy(golden["in_pose"]))
        got.update(audio_image_feature=seq.image_feature.numpy(), audio_encoder_out=seq.audio_conv.numpy(),
                   audio_fc_out_unscaled=seq.audio_feature.numpy(), audio_pose_feature=seq.pose_feature.numpy(),
                   audio_lstm_out=seq.lstm_out.numpy())
        deco = net.a2fd.decode(seq.lstm_out)
        got["deco_out"] = deco.numpy()
        kp_a = [net.audio_heads(deco[:, t]) for t in range(deco.shape[1])]
        for part in ("value", "jacobian", "heatmap"):
            got[f"kp_audio_{part}"] = torch.cat([getattr(k, part) for k in kp_a]).numpy()
        frames = torch.from_numpy(golden["in_emotion_frames"])
        got["emo_hourglass_feature_f0"] = net.emotion.extractor.hourglass_features(frames[:1]).numpy()
        emo = [net.emotion(frames[t:t + 1], kp_a[t].value, kp_a[t].jacobian) for t in range(len(kp_a))]
        for name, fn in (("emo_value", lambda e: e.displacements.value), ("emo_jacobian", lambda e: e.displacements.jacobian),
                         ("emo_logits", lambda e: e.image.logits), ("emo_image_feature", lambda e: e.image.feature),
                         ("emo_kp_feature", lambda e: e.displacements.kp_feature),
                         ("emo_fc_all_out", lambda e: e.displacements.fused),
                         ("emo_posenc", lambda e: e.displacements.posenc)):
            got[name] = torch.cat([fn(e) for e in emo]).numpy()
        kp_emo = []
        for t, e in enumerate(emo):
            v, j = kp_a[t].value.clone(), kp_a[t].jacobian.clone()
            for kp, d, w in ((1, 0, 0.2), (4, 1, 1.0), (6, 2, 1.0)):
                v[:, kp] += w * e.displacements.value[:, d]
                j[:, kp] += w * e.displacements.jacobian[:, d]
            kp_emo.append(_kp(v, j))
        got["kp_emo_value"] = torch.cat([k.value for k in kp_emo]).numpy()
        got["kp_emo_jacobian"] = torch.cat([k.jacobian for k in kp_emo]).numpy()
        drives = {"audio_t0": kp_a[0], "audio_t5": kp_a[5], "emo_t0": kp_emo[0], "emo_t5": kp_emo[5], "identity": kp_s}
        for name, kp_d in drives.items():
            for part, arr in _generator(net, src, _kp(kp_d.value, kp_d.jacobian), kp_s).items():
                got[f"gen_{name}_{part}"] = arr
    return got


DATA_ARRAYS = [
    "kp_source_value", "kp_source_jacobian", "kp_source_heatmap", "kp_source_down", "kp_source_feature_map",
    "audio_image_feature", "audio_encoder_out", "audio_fc_out_unscaled", "audio_pose_feature", "audio_lstm_out",
    "deco_out", "kp_audio_value", "kp_audio_jacobian", "kp_audio_heatmap", "emo_value", "emo_jacobian",
    "emo_logits", "emo_image_feature", "emo_kp_feature", "emo_fc_all_out", "emo_hourglass_feature_f0",
    "emo_posenc", "kp_emo_value", "kp_emo_jacobian",
] + [f"gen_{d}_{p}" for d in DRIVES for p in GEN_PARTS]


@pytest.mark.parametrize("name", DATA_ARRAYS)
def test_end_to_end_matches_reference(chain, golden, tolerances, name):
    want = golden[name]
    got = chain[name]
    assert got.shape == want.shape
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    assert err <= tolerances[name]["atol_end_to_end"], f"{name}: max |diff| {err:.3g}"


@pytest.fixture(scope="module")
def stages(net, golden) -> dict:
    """Each stage fed the stored inputs of that stage."""
    got: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        deco = torch.from_numpy(golden["deco_out"])[0]
        kp_a = net.audio_heads(deco)
        got.update(kp_audio_value=kp_a.value.numpy(), kp_audio_jacobian=kp_a.jacobian.numpy(),
                   kp_audio_heatmap=kp_a.heatmap.numpy())
        frames = torch.from_numpy(golden["in_emotion_frames"])
        value, jac = torch.from_numpy(golden["kp_audio_value"]), torch.from_numpy(golden["kp_audio_jacobian"])
        emo = [net.emotion(frames[t:t + 1], value[t:t + 1], jac[t:t + 1]) for t in range(6)]
        got["emo_value"] = torch.cat([e.displacements.value for e in emo]).numpy()
        got["emo_jacobian"] = torch.cat([e.displacements.jacobian for e in emo]).numpy()
        got["emo_logits"] = torch.cat([e.image.logits for e in emo]).numpy()
        got["emo_posenc"] = torch.cat([e.displacements.posenc for e in emo]).numpy()
        src = torch.from_numpy(golden["in_source"])
        kp_s = _kp(golden["kp_source_value"], golden["kp_source_jacobian"])
        ev, ej = golden["kp_emo_value"], golden["kp_emo_jacobian"]
        av, aj = golden["kp_audio_value"], golden["kp_audio_jacobian"]
        drives = {"audio_t0": _kp(av[:1], aj[:1]), "audio_t5": _kp(av[5:], aj[5:]), "emo_t0": _kp(ev[:1], ej[:1]),
                  "emo_t5": _kp(ev[5:], ej[5:]), "identity": kp_s}
        for name, kp_d in drives.items():
            for part, arr in _generator(net, src, kp_d, kp_s).items():
                got[f"gen_{name}_{part}"] = arr
    return got


STAGE_ARRAYS = ["kp_audio_value", "kp_audio_jacobian", "kp_audio_heatmap", "emo_value", "emo_jacobian",
                "emo_logits", "emo_posenc"] + [f"gen_{d}_{p}" for d in DRIVES for p in GEN_PARTS]


@pytest.mark.parametrize("name", STAGE_ARRAYS)
def test_each_stage_matches_reference(stages, golden, tolerances, name):
    err = float(np.max(np.abs(stages[name].astype(np.float64) - golden[name])))
    assert err <= tolerances[name]["atol_stage"], f"{name}: max |diff| {err:.3g}"


@pytest.fixture(scope="module")
def engine(converted):
    from eamm_core.engines.base import EngineOptions
    from eamm_core.engines.neural.engine import NeuralEngine

    return NeuralEngine(EngineOptions(model_dir=converted[0], device="cpu", smooth=False, batch_size=3))


def _golden_inputs(golden):
    from eamm_core.types import AudioFeatures, EmotionClip, PortraitCrop, PoseTrack

    img, eye = golden["in_source_u8"], np.eye(3, dtype=np.float32)
    crop = PortraitCrop(image=img, mask=np.ones((256, 256), np.float32), landmarks_px=np.zeros((68, 2), np.float32),
                        source_landmarks_px=np.zeros((68, 2), np.float32), crop_from_source=eye, source_from_crop=eye,
                        original=img, face_box=(0, 0, 256, 256))
    audio = AudioFeatures(np.zeros(8000, np.float32), 16000, golden["in_mfcc_raw_first100"],
                          golden["in_mfcc_windows"][0], np.zeros(6, np.float32))
    frames = golden["in_emotion_frames_u8"]
    clip = EmotionClip(frames, frames, np.zeros((6, 68, 2), np.float32), np.arange(6), 25.0, 0)
    return crop, audio, PoseTrack(golden["in_pose"][0]), clip


def test_engine_fast_fp32_path_is_within_golden_tolerances(engine, golden, tolerances):
    """The product path (BatchNorm folded, batched, channels-last, source features reused, RGB uint8
    inputs) reproduces the reference with smoothing off."""
    from eamm_core.types import Keypoints

    def tol(name, kind="atol_end_to_end"):
        return tolerances[name][kind]

    crop, audio, pose, clip = _golden_inputs(golden)
    kp_s = engine.source_keypoints(crop)
    assert np.abs(kp_s.value - golden["kp_source_value"]).max() <= tol("kp_source_value")
    kp_a = engine.audio_keypoints(crop, audio, pose)
    assert np.abs(kp_a.value - golden["kp_audio_value"]).max() <= tol("kp_audio_value")
    assert np.abs(kp_a.jacobian - golden["kp_audio_jacobian"]).max() <= tol("kp_audio_jacobian")
    stored = Keypoints(golden["kp_audio_value"], golden["kp_audio_jacobian"])
    delta = engine.emotion_displacements(clip, stored, crop)
    weights = np.array([0.2, 1.0, 1.0], np.float32)[None, :, None]
    assert np.abs(delta.value - golden["emo_value"][:, :3] * weights).max() <= tol("emo_value", "atol_stage")
    src, feats = engine.source_tensors(crop)
    kp_src = KeypointTensors(torch.from_numpy(golden["kp_source_value"]), torch.from_numpy(golden["kp_source_jacobian"]))
    for name, (v, j) in {"audio_t5": ("kp_audio_value", "kp_audio_jacobian"),
                         "emo_t5": ("kp_emo_value", "kp_emo_jacobian")}.items():
        pred = engine.predict(src, feats, kp_src, Keypoints(golden[v][5:], golden[j][5:])).numpy()
        err = np.abs(pred - golden[f"gen_{name}_prediction"]).max()
        assert err <= tol(f"gen_{name}_prediction", "atol_stage"), f"{name}: {err:.3g}"
