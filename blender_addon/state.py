"""Job bookkeeping without bpy: status lines, progress fractions, the frames on disk, job records."""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

FINAL_STATES = ("done", "failed", "cancelled", "interrupted")
FRAME_NAME = re.compile(r"^frame_(\d{6})\.png$")
RECORD_NAME = "eamm_job.json"


class AddonError(Exception):
    """A one-line message for the artist (bad settings, missing file…); ``kind`` as in client.ClientError."""

    def __init__(self, message: str, kind: str = "input"):
        super().__init__(message)
        self.message = message
        self.kind = kind

    def __str__(self) -> str:
        return self.message


def progress_fraction(status: dict) -> float:
    """0..1 for a job status (frames done / total; 1 when done)."""
    if status.get("state") == "done":
        return 1.0
    total = status.get("frames_total") or 0
    done = status.get("frames_done") or 0
    return max(0.0, min(1.0, done / total)) if total else 0.0


def status_line(status: dict) -> str:
    """One line for the panel and the headless log, e.g. ``running · render 12/50 (24%) · ETA 3 s``."""
    state = status.get("state", "?")
    if state == "failed":
        return f"failed: {status.get('error') or 'see the server log'}"
    parts = [state]
    if state in ("running", "queued"):
        total = status.get("frames_total") or 0
        stage = status.get("stage") or ""
        if total:
            parts.append(f"{stage} {status.get('frames_done') or 0}/{total} ({progress_fraction(status):.0%})")
        elif stage:
            parts.append(stage)
        eta = status.get("eta_s")
        if isinstance(eta, (int, float)) and eta > 0:
            parts.append(f"ETA {eta:.0f} s")
    if status.get("cached"):
        parts.append("cached: " + ", ".join(status["cached"]))
    return " · ".join(parts)


def panel_line(status: dict) -> str:
    """The panel's state text: ``rendering 120/749 · ETA 3 s`` while frames render, else :func:`status_line`."""
    total = status.get("frames_total") or 0
    if status.get("state") == "running" and status.get("stage") == "render" and total:
        eta = status.get("eta_s")
        tail = f" · ETA {eta:.0f} s" if isinstance(eta, (int, float)) and eta > 0 else ""
        return f"rendering {status.get('frames_done') or 0}/{total}{tail}"
    return status_line(status)


def extract_frames(zip_path: Path, frames_dir: Path, wanted: range | None = None,
                   retry: str = "generate again") -> list[int]:
    """Unpack ``frame_%06d.png`` members (only those, flat; only ``wanted`` numbers if given) into
    ``frames_dir``, each written whole (a temporary name, then a rename); the frame numbers, sorted.
    A download with no frame at all is an error unless ``wanted`` is given (the caller counts)."""
    frames_dir.mkdir(parents=True, exist_ok=True)
    numbers = []
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                name = info.filename.rsplit("/", 1)[-1]
                match = FRAME_NAME.match(name)
                if not match or info.is_dir() or (wanted is not None and int(match.group(1)) not in wanted):
                    continue
                tmp = frames_dir / f".{name}.{os.getpid()}.part"
                tmp.write_bytes(zf.read(info))
                os.replace(tmp, frames_dir / name)
                numbers.append(int(match.group(1)))
    except zipfile.BadZipFile:
        raise AddonError(f"the frames download {zip_path.name} is not a zip file: {retry}") from None
    if not numbers and wanted is None:
        raise AddonError(f"the frames download {zip_path.name} holds no frame_NNNNNN.png files: {retry}")
    return sorted(numbers)


def frames_on_disk(frames_dir: Path) -> list[int]:
    """Frame numbers of ``frame_%06d.png`` files in ``frames_dir`` (sorted; empty if none)."""
    if not frames_dir.is_dir():
        return []
    return sorted(int(m.group(1)) for p in frames_dir.iterdir() if (m := FRAME_NAME.match(p.name)))


def contiguous(numbers: list[int]) -> range:
    """The run of consecutive frames starting at the first one (a gap ends it)."""
    if not numbers:
        return range(0)
    end = numbers[0]
    for n in numbers:
        if n != end:
            break
        end += 1
    return range(numbers[0], end)


@dataclass
class JobRecord:
    """What Import needs later (also after reloading the .blend): written beside the frames."""

    job_id: str
    server_url: str
    model_start: int
    model_end: int
    audio_strip: str
    frames: list[int] = field(default_factory=list)

    def save(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / RECORD_NAME
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, out_dir: Path) -> JobRecord | None:
        try:
            data = json.loads((out_dir / RECORD_NAME).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None
