"""Equivalence checks of ``bench/gpu_check.py``: device fp32 against CPU fp32 in the same run, and the
device's fp32 networks against the golden arrays wherever ``../shared`` (or ``$EAMM_SHARED``) exists.

Tolerances are the golden data's (``eamm_golden_v1.md`` §5): "stage" where a network is fed the same
inputs on both sides, "e2e" where the whole chain runs from the raw inputs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from eamm_core.engines.base import EngineOptions, combine
from eamm_core.engines.neural.engine import NeuralEngine
from eamm_core.engines.neural.models.keypoint_heads import KeypointTensors
from eamm_core.types import Keypoints

REPO = Path(__file__).resolve().parents[1]

#: (golden array name, e2e atol, stage atol) — the values of eamm_golden_v1.md §5
TOL = {
    "kp_source_value": 5e-6, "kp_source_jacobian": 5e-6,
    "kp_audio_value": 1e-4, "kp_audio_jacobian": 2e-5,
    "emo_value": 1e-5, "emo_jacobian": 1e-5,  # stage: fed the same audio keypoints
    "prediction": 2e-5,  # stage: fed the same keypoints (gen_*_prediction "atol stage")
}
FRAME_LSB = 2  # uint8 frames of the whole chain: at most this many levels apart


@dataclass(frozen=True)
class Check:
    name: str
    max_abs_diff: float
    tolerance: float
    passed: bool
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def shared_dir() -> Path | None:
    """``$EAMM_SHARED`` or ``../shared`` beside the checkout, when it holds the golden data."""
    for cand in (os.environ.get("EAMM_SHARED"), REPO.parent / "shared"):
        if cand and (Path(cand) / "golden" / "eamm_golden_v1.npz").exists():
            return Path(cand)
    return None


def _check(name: str, a, b, tol: float, note: str = "") -> Check:
    diff = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(a) else 0.0
    return Check(name, diff, tol, bool(np.isfinite(diff) and diff <= tol), note)


def engine(model: Path, device: str, precision: str = "fp32", batch: int = 8) -> NeuralEngine:
    return NeuralEngine(EngineOptions(model_dir=model, device=device, precision=precision, batch_size=batch,
                                      smooth=False))


def _kp_tensors(kp: Keypoints, device: torch.device) -> KeypointTensors:
    return KeypointTensors(torch.from_numpy(kp.value).to(device), torch.from_numpy(kp.jacobian).to(device))


def stages(eng: NeuralEngine, crop, audio, pose, clip, feed: dict | None = None) -> dict:
    """Every network's output; with ``feed`` (another run's stages) each network gets those inputs,
    so that a difference belongs to that network alone."""
    feed = feed or {}
    kp_s = eng.source_keypoints(crop)
    kp_a = eng.audio_keypoints(crop, audio, pose)
    emo = eng.emotion_displacements(clip, feed.get("kp_audio", kp_a), crop)
    kp_d = combine(eng, feed.get("kp_audio", kp_a), feed.get("emo", emo), np.ones(len(kp_a), np.float32))
    src, feats = eng.source_tensors(crop)
    pred = eng.predict(src, feats, _kp_tensors(feed.get("kp_source", kp_s), eng.device), feed.get("kp_d", kp_d))
    frames = np.stack([f for _, f in eng.render(crop, kp_s, combine(eng, kp_a, emo, np.ones(len(kp_a))),
                                                range(len(kp_a)))])
    return {"kp_source": kp_s, "kp_audio": kp_a, "emo": emo, "kp_d": kp_d, "prediction": pred.cpu().numpy(),
            "frames": frames}


def device_vs_cpu(model: Path, device: str, inputs) -> list[Check]:
    """CUDA (or any device) fp32 against CPU fp32 on the same inputs, network by network."""
    ref = stages(engine(model, "cpu"), *inputs)
    dev = stages(engine(model, device), *inputs, feed=ref)
    tag = f"{device} fp32 vs cpu fp32"
    checks = [
        _check(f"{tag}: E_k value", dev["kp_source"].value, ref["kp_source"].value, TOL["kp_source_value"]),
        _check(f"{tag}: E_k jacobian", dev["kp_source"].jacobian, ref["kp_source"].jacobian, TOL["kp_source_jacobian"]),
        _check(f"{tag}: A2FD keypoints", dev["kp_audio"].value, ref["kp_audio"].value, TOL["kp_audio_value"]),
        _check(f"{tag}: A2FD jacobians", dev["kp_audio"].jacobian, ref["kp_audio"].jacobian, TOL["kp_audio_jacobian"]),
        _check(f"{tag}: E_e displacements", dev["emo"].value, ref["emo"].value, TOL["emo_value"], "stage"),
        _check(f"{tag}: E_e jacobians", dev["emo"].jacobian, ref["emo"].jacobian, TOL["emo_jacobian"], "stage"),
        _check(f"{tag}: F+G prediction", dev["prediction"], ref["prediction"], TOL["prediction"], "stage"),
        _check(f"{tag}: frames (uint8, whole chain)", dev["frames"], ref["frames"], FRAME_LSB, "e2e"),
    ]
    return checks


def golden_inputs(shared: Path):
    """The golden ``in_*`` arrays as engine inputs (6 frames) plus the npz."""
    from neural_speed import make_inputs

    return make_inputs(6, shared / "golden" / "eamm_golden_v1.npz")


def against_golden(model: Path, device: str, shared: Path) -> list[Check]:
    """The device's fp32 networks against the reference arrays (chain from ``in_*``; G stage-fed)."""
    z = np.load(shared / "golden" / "eamm_golden_v1.npz", allow_pickle=False)
    tol = json.loads(str(z["meta_json"]))["tolerances"]
    eng = engine(model, device)
    crop, audio, pose, clip = golden_inputs(shared)
    kp_s = eng.source_keypoints(crop)
    kp_a = eng.audio_keypoints(crop, audio, pose)
    golden_kp_a = Keypoints(z["kp_audio_value"], z["kp_audio_jacobian"])
    emo = eng.emotion_displacements(clip, golden_kp_a, crop)
    w = np.asarray(eng.face_weights, np.float32)
    tag = f"{device} fp32 vs golden"
    checks = [
        _check(f"{tag}: kp_source_value", kp_s.value, z["kp_source_value"], tol["kp_source_value"]["atol_end_to_end"]),
        _check(f"{tag}: kp_source_jacobian", kp_s.jacobian, z["kp_source_jacobian"], tol["kp_source_jacobian"]["atol_end_to_end"]),
        _check(f"{tag}: kp_audio_value", kp_a.value, z["kp_audio_value"], tol["kp_audio_value"]["atol_end_to_end"]),
        _check(f"{tag}: kp_audio_jacobian", kp_a.jacobian, z["kp_audio_jacobian"], tol["kp_audio_jacobian"]["atol_end_to_end"]),
        _check(f"{tag}: emo_value", emo.value, z["emo_value"][:, :3] * w[None, :, None],
               tol["emo_value"]["atol_stage"], "stage"),
        _check(f"{tag}: emo_jacobian", emo.jacobian, z["emo_jacobian"][:, :3] * w[None, :, None, None],
               tol["emo_jacobian"]["atol_stage"], "stage"),
    ]
    drives = {"audio_t0": ("kp_audio", 0), "audio_t5": ("kp_audio", 5), "emo_t0": ("kp_emo", 0),
              "emo_t5": ("kp_emo", 5), "identity": ("kp_source", 0)}
    kp_d = Keypoints(np.stack([z[f"{k}_value"][t] for k, t in drives.values()]),
                     np.stack([z[f"{k}_jacobian"][t] for k, t in drives.values()]))
    src, feats = eng.source_tensors(crop)
    kp_src = KeypointTensors(torch.from_numpy(z["kp_source_value"]).to(eng.device),
                             torch.from_numpy(z["kp_source_jacobian"]).to(eng.device))
    pred = eng.predict(src, feats, kp_src, kp_d).cpu().numpy()
    for i, name in enumerate(drives):
        key = f"gen_{name}_prediction"
        checks.append(_check(f"{tag}: {key}", pred[i], z[key][0], tol[key]["atol_stage"], "stage"))
    return checks
