"""Synthetic weights v1 (``../shared/golden/eamm_golden_v1.md`` §2), written in the authors' layout.

Used by the neural tests and ``bench/neural_speed.py``: builds every tensor of the five reference
state_dicts by the exact rule (seeded per key), saves them as the authors' ``.pth.tar`` files and
builds a tiny-config equivalent for fast tests.
"""

from __future__ import annotations

import math
import re
import zlib
from pathlib import Path

import numpy as np
import torch

GAINS = {
    "audio_feature/audio_eocder.0.0.weight": 1 / 32,
    "audio_feature/pose_encoder.0.weight": 1 / 64,
    "audio_feature/lstm.weight_ih_l1": 4.0,
    "audio_feature/lstm.weight_ih_l2": 4.0,
    "audio_feature/decon.0.weight": 6.0,
    "audio_feature/decon.12.weight": 3.0,
    "kp_detector/jacobian.weight": 0.1,
    "kp_detector_a/jacobian.weight": 0.1,
    "emo_detector/final.5.weight": 0.1,
    "emo_detector/classify.last_fc.weight": 0.1,
    "generator/final.weight": 0.1,
}
JACOBIAN_BIAS_KEYS = {"kp_detector/jacobian.bias", "kp_detector_a/jacobian.bias"}

#: which author file holds which entries (demo defaults), plus non-network entries they carry
AUTHOR_FILES = {
    "124_52000.pth.tar": ("generator", "kp_detector"),
    "1-6000.pth.tar": ("audio_feature", "kp_detector_a"),
    "5-3000.pth.tar": ("emo_detector",),
}


def parse_key_file(path: Path) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """``eamm_checkpoint_keys.txt`` → {entry: [(key, shape), ...]} in file order."""
    entries: dict[str, list] = {}
    current = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("#####"):
            current = re.match(r"##### (\w+)", line).group(1)
            entries[current] = []
        elif line and not line.startswith("#"):
            key, shape = line.split("\t")
            entries[current].append((key, tuple(int(s) for s in re.findall(r"\d+", shape))))
    return entries


def synthetic_tensor(entry: str, key: str, shape: tuple[int, ...], antialias: np.ndarray) -> np.ndarray:
    """One tensor by the v1 rule (float64 arithmetic, one cast at the end)."""
    name = f"{entry}/{key}"
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, np.int64)
    numel = int(np.prod(shape)) if shape else 1
    rng = np.random.default_rng(zlib.crc32(name.encode("utf-8")))
    u = (rng.random(numel, dtype=np.float64) * 2 - 1).reshape(shape)
    if key.endswith("running_var"):
        value = 0.5 + (u + 1) / 2
    elif key.endswith("running_mean"):
        value = 0.1 * u
    elif key == "down.weight" or key.endswith(".down.weight"):
        return np.ascontiguousarray(np.broadcast_to(antialias.astype(np.float32), shape))
    elif key.endswith(".bias") or key.split(".")[-1].startswith("bias_"):
        value = 0.05 * u
        if name in JACOBIAN_BIAS_KEYS:
            value = np.tile(np.array([1.0, 0.0, 0.0, 1.0]), shape[0] // 4) + 0.05 * u
    elif key.endswith(".weight") and len(shape) == 1:
        value = 1 + 0.1 * u
    elif len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        value = (u * math.sqrt(6.0 / fan_in)) * GAINS.get(name, 1.0)
    else:
        raise ValueError(f"no synthetic-weight class for {name} {shape}")
    return value.astype(np.float32)


def synthetic_state_dicts(keys: dict[str, list], antialias: np.ndarray) -> dict[str, dict[str, torch.Tensor]]:
    return {
        entry: {k: torch.from_numpy(synthetic_tensor(entry, k, s, antialias)) for k, s in items}
        for entry, items in keys.items()
    }


def tensor_sha256(t: torch.Tensor) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(t.numpy()).tobytes()).hexdigest()


def write_author_checkpoints(states: dict[str, dict], out_dir: Path) -> list[Path]:
    """Save the state_dicts as the authors' three files, with optimizer states and epoch/step as the
    training Logger writes them (the converter must ignore those)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, entries in AUTHOR_FILES.items():
        payload: dict = {e: states[e] for e in entries}
        payload["epoch"] = 1
        payload["step"] = 6000
        payload[f"optimizer_{entries[0]}"] = {"state": {}, "param_groups": [{"lr": 2e-4, "params": [0, 1]}]}
        path = out_dir / name
        torch.save(payload, path)
        paths.append(path)
    return paths


def tiny_author_keys(cfg) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """Foreign key lists for a (tiny) config: our keys mapped back, plus a few dropped keys so the
    converter's drop path runs (StyleGAN noise buffer, KPDetector_a's unused hourglass, fc_n)."""
    from eamm_core.engines.neural import keymap
    from eamm_core.engines.neural.models.eamm_networks import EammNetworks

    out: dict[str, list] = {e: [] for e in keymap.ENTRIES}
    for key, value in EammNetworks(cfg).state_dict().items():
        entry, foreign = keymap.to_foreign(key)
        out[entry].append((foreign, tuple(value.shape)))
    out["audio_feature"].append(("generator.noises.noise_0", (1, 1, 4, 4)))
    out["kp_detector_a"].append(("predictor.encoder.down_blocks.0.conv.weight", (4, 3, 3, 3)))
    out["kp_detector_a"].append(("down.weight", (3, 1, 13, 13)))
    out["emo_detector"].append(("fc_n.0.weight", (8, 6)))
    return out


def write_tiny_author_checkpoints(out_dir: Path) -> list[Path]:
    """The three author files for the tiny config (synthetic-v1 rule, kernel computed by our module)."""
    from eamm_core.engines.neural.config import tiny
    from eamm_core.engines.neural.models.anti_alias_downsample import AntiAliasDownsample

    kernel = AntiAliasDownsample(3, 0.25).kernel[0, 0].numpy()
    return write_author_checkpoints(synthetic_state_dicts(tiny_author_keys(tiny()), kernel), out_dir)


def make_tiny_model(out_dir: Path) -> Path:
    """Convert the tiny author files into our format in ``out_dir`` / "tiny"; returns the model folder."""
    from eamm_core.engines.neural import checkpoint
    from eamm_core.engines.neural.config import tiny

    sources = write_tiny_author_checkpoints(out_dir / "authors")
    checkpoint.convert(sources, out_dir / "tiny", tiny())
    return out_dir / "tiny"


def released_author_keys(cfg=None) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """The authors' keys and shapes of every tensor our networks load, derived from our state_dict
    and the key map (no key file needed: the rule seeds by these names, so the tensors are identical)."""
    from eamm_core.engines.neural import keymap
    from eamm_core.engines.neural.config import released
    from eamm_core.engines.neural.models.eamm_networks import EammNetworks

    out: dict[str, list] = {e: [] for e in keymap.ENTRIES}
    for key, value in EammNetworks(cfg or released()).state_dict().items():
        entry, foreign = keymap.to_foreign(key)
        out[entry].append((foreign, tuple(value.shape)))
    return out


def antialias_kernel() -> np.ndarray:
    """The 13×13 anti-alias kernel as our module computes it (equals the golden ``w_antialias_kernel_13x13``)."""
    from eamm_core.engines.neural.models.anti_alias_downsample import AntiAliasDownsample

    return AntiAliasDownsample(3, 0.25).kernel[0, 0].numpy()


def write_synthetic_released_model(out_dir: Path, key_file: Path | None = None, kernel: np.ndarray | None = None,
                                   cfg=None) -> Path:
    """Synthetic weights v1 written directly in our format (bench helper; the tests go through the
    authors' files and the converter instead). Needs nothing outside the repo: keys come from the
    key map unless ``key_file`` is given, the kernel from our module unless ``kernel`` is given.
    ``cfg`` defaults to the released sizes (``config.tiny()`` for fast checks)."""
    from eamm_core.engines.neural import checkpoint, keymap
    from eamm_core.engines.neural.config import released

    cfg = cfg or released()
    keys = parse_key_file(key_file) if key_file else released_author_keys(cfg)
    states = synthetic_state_dicts(keys, antialias_kernel() if kernel is None else kernel)
    ours = {}
    for entry, state in states.items():
        for key, tensor in state.items():
            target = keymap.to_ours(entry, key)
            if target is not None:
                ours[target] = tensor
    checkpoint.write_model(out_dir, ours, cfg)
    return out_dir
