"""Reading the authors' checkpoints, converting them to our format, and loading ours.

Our format (a model folder): ``model.safetensors`` (our key names) + ``manifest.json`` (format, key-map
version, config, source files with SHA-256, what was dropped). Foreign files are read with
``torch.load(weights_only=True)``; our file is loaded with ``load_state_dict(strict=True)``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from eamm_core.engines.neural import keymap
from eamm_core.engines.neural.config import EammConfig, config_from_dict, released
from eamm_core.engines.neural.models.eamm_networks import EammNetworks
from eamm_core.errors import EammError, InputError, ModelNotFoundError

log = logging.getLogger(__name__)

FORMAT = "eamm-neural-1"
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
DEFAULT_MODEL_NAME = "eamm"
ENTRY_HOME = {
    "generator": "124_52000.pth.tar (or FOMM's vox-cpk.pth.tar)",
    "kp_detector": "124_52000.pth.tar (or FOMM's vox-cpk.pth.tar)",
    "audio_feature": "1-6000.pth.tar",
    "kp_detector_a": "1-6000.pth.tar",
    "emo_detector": "5-3000.pth.tar",
}
INSTALL_HINT = (
    "download the authors' checkpoints and run `eamm convert-checkpoint 124_52000.pth.tar "
    "1-6000.pth.tar 5-3000.pth.tar` (see docs/models.md)"
)


def models_root(override: Path | str | None = None) -> Path:
    """Folder holding installed models: ``override``, else ``$EAMM_MODEL_DIR``, else
    ``~/.local/share/eamm/models``."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("EAMM_MODEL_DIR")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "eamm" / "models"


def default_model_dir() -> Path:
    return models_root() / DEFAULT_MODEL_NAME


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class ConversionReport:
    """What the converter took from where, and what it dropped or ignored."""

    taken: dict[str, str] = field(default_factory=dict)  # entry -> file name
    dropped: dict[str, int] = field(default_factory=dict)  # entry -> number of unused keys dropped
    ignored: list[str] = field(default_factory=list)  # "file: entry" (optimizer states, epoch, ...)

    def lines(self) -> list[str]:
        out = [f"{entry}: from {name}" for entry, name in self.taken.items()]
        out += [f"{entry}: dropped {n} keys of sub-modules the reference never runs"
                for entry, n in self.dropped.items() if n]
        out += [f"ignored {item}" for item in self.ignored]
        return out


def _first_sentence(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return text.split(". ")[0].rstrip(".")[:120]


def read_foreign(path: Path) -> dict:
    """The top-level dict of an authors' / FOMM ``.pth.tar`` file (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint file not found", "check the path")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for damaged files
        raise InputError(
            path, f"cannot read checkpoint ({type(exc).__name__}: {_first_sentence(exc)})",
            "the file is truncated or not a PyTorch checkpoint; download it again",
        ) from None
    if not isinstance(data, dict):
        raise InputError(path, "not an EAMM/FOMM checkpoint (top level is not a dict)", "pass the .pth.tar files")
    return data


def _pick_sources(files: list[tuple[Path, dict]], report: ConversionReport) -> dict[str, tuple[Path, dict]]:
    """entry -> (file, state_dict). An entry in several files: generator/kp_detector come from a file
    without audio_feature (the demo's --checkpoint), everything else from the first file."""
    picked: dict[str, tuple[Path, dict]] = {}
    for path, data in files:
        for name, value in data.items():
            if name in keymap.ENTRIES and isinstance(value, dict):
                prev = picked.get(name)
                main_file = "audio_feature" not in data and "emo_detector" not in data
                if prev is None or (name in ("generator", "kp_detector") and main_file and "audio_feature" in prev[2]):
                    if prev is not None:
                        report.ignored.append(f"{prev[0].name}: {name} (taken from {path.name} instead)")
                    picked[name] = (path, value, data)
                else:
                    report.ignored.append(f"{path.name}: {name} (already taken from {prev[0].name})")
            elif keymap.IGNORED_ENTRIES.match(str(name)):
                report.ignored.append(f"{path.name}: {name}")
            else:
                raise InputError(path, f"unexpected entry {name!r}",
                                 f"expected the entries {', '.join(keymap.ENTRIES)} of the EAMM/FOMM checkpoints")
    return {k: (v[0], v[1]) for k, v in picked.items()}


def _map_entry(entry: str, path: Path, state: dict, expected: dict, out: dict, report: ConversionReport) -> None:
    dropped = 0
    unexpected: list[str] = []
    for key, tensor in state.items():
        try:
            ours = keymap.to_ours(entry, key)
        except keymap.UnknownKeyError:
            ours = False
        if ours is None:
            dropped += 1
            continue
        if ours is False or ours not in expected:  # no rule, or a rule's pattern beyond our networks' sizes
            unexpected.append(f"{entry}/{key}")
            continue
        if not isinstance(tensor, torch.Tensor):
            raise InputError(path, f"{entry}/{key} is not a tensor", "the checkpoint is damaged")
        want = tuple(expected[ours].shape)
        if tuple(tensor.shape) != want:
            raise InputError(path, f"{entry}/{key} has shape {tuple(tensor.shape)}, expected {want}",
                             "the checkpoint does not match the released EAMM architecture")
        out[ours] = tensor.detach().to(expected[ours].dtype).contiguous()
    if unexpected:
        shown = ", ".join(unexpected[:5]) + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else "")
        raise InputError(path, f"unexpected key{'s' if len(unexpected) > 1 else ''} {shown}",
                         "this is not an EAMM/FOMM checkpoint of the released architecture")
    report.dropped[entry] = dropped


def convert_state(sources: list[Path], cfg: EammConfig | None = None) -> tuple[dict, ConversionReport]:
    """Read foreign files → our state dict (checked: every key, every shape, nothing missing)."""
    cfg = cfg or released()
    expected = EammNetworks(cfg).state_dict()
    report = ConversionReport()
    picked = _pick_sources([(Path(p), read_foreign(Path(p))) for p in sources], report)
    for entry in keymap.ENTRIES:
        if entry not in picked:
            raise EammError(f"checkpoint entry {entry!r} is missing from {', '.join(Path(p).name for p in sources)}: "
                            f"it is in the authors' {ENTRY_HOME[entry]}; pass that file too")
    out: dict[str, torch.Tensor] = {}
    for entry in keymap.ENTRIES:
        path, state = picked[entry]
        report.taken[entry] = path.name
        _map_entry(entry, path, state, expected, out, report)
        missing = [k for k in expected if k not in out and keymap.to_foreign(k)[0] == entry]
        if missing:
            e, key = keymap.to_foreign(missing[0])
            raise InputError(path, f"{e} has {len(missing)} key(s) missing, first {e}/{key}",
                             "the checkpoint is incomplete or of another architecture")
    return out, report


def write_model(out_dir: Path, state: dict, cfg: EammConfig, *, sources: list[Path] = (),
                report: ConversionReport | None = None) -> Path:
    """Write ``model.safetensors`` + ``manifest.json`` into ``out_dir`` (created)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / (WEIGHTS_FILE + ".partial")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    tmp.replace(out_dir / WEIGHTS_FILE)
    manifest = {
        "format": FORMAT,
        "keymap_version": keymap.KEYMAP_VERSION,
        "config": cfg.to_dict(),
        "weights_sha256": sha256_file(out_dir / WEIGHTS_FILE),
        "sources": [{"file": Path(p).name, "sha256": sha256_file(Path(p))} for p in sources],
        "conversion": report.lines() if report else [],
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out_dir


def convert(sources: list[Path], out_dir: Path, cfg: EammConfig | None = None) -> ConversionReport:
    """``eamm convert-checkpoint``: the authors' files → our model folder."""
    cfg = cfg or released()
    state, report = convert_state(sources, cfg)
    write_model(out_dir, state, cfg, sources=sources, report=report)
    return report


def read_manifest(model_dir: Path) -> dict:
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file() or not (Path(model_dir) / WEIGHTS_FILE).is_file():
        raise ModelNotFoundError(f"no neural model in {model_dir}: {INSTALL_HINT}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable manifest ({exc})", "convert the checkpoints again") from None
    if manifest.get("format") != FORMAT:
        raise InputError(path, f"unknown model format {manifest.get('format')!r}", f"expected {FORMAT}; convert again")
    return manifest


def load_model(model_dir: Path, device: torch.device | str = "cpu") -> tuple[EammNetworks, dict]:
    """Our model folder → (networks in eval mode on ``device``, manifest). Strict loading."""
    from safetensors.torch import load_file

    manifest = read_manifest(model_dir)
    cfg = config_from_dict(manifest["config"])
    net = EammNetworks(cfg)
    try:
        state = load_file(str(Path(model_dir) / WEIGHTS_FILE))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise InputError(Path(model_dir) / WEIGHTS_FILE, f"cannot read weights ({exc})",
                         "the file is damaged; convert the checkpoints again") from None
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise InputError(Path(model_dir) / WEIGHTS_FILE, f"weights do not fit the config ({first[:200]})",
                         "convert the checkpoints again") from None
    return net.eval().to(device), manifest
