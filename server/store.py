"""Files on disk: atomic writes and the content-addressed upload store.

Layout under the data folder (every name below is made by the server, never taken from a client):

* ``uploads/<sha256>.<ext>`` the uploaded bytes (``ext`` from the sniffed content) and
  ``uploads/<sha256>.json`` what validation found, per role;
* ``jobs/<job id>/job.json`` the job record, ``spec.json`` what the runner reads, ``out/`` the
  pipeline's output folder (``frames/``, ``result.mp4``, ``manifest.json``), ``runner.log``;
* ``tmp/`` partial uploads and zips being built; ``cache/`` the pipeline's stage cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a restart after ``kill -9``) sees either the
    old file or the new one, never a partial file: temp file in the same folder, fsync, rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: Path, value) -> None:
    atomic_write_bytes(path, json.dumps(value, indent=1, sort_keys=True).encode("utf-8"))


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


@dataclass
class UploadInfo:
    """What the server knows about one stored upload (``uploads/<id>.json``)."""

    id: str
    name: str
    size: int
    kind: str
    ext: str
    roles: dict = field(default_factory=dict)  # role -> {"info": {...}, "warnings": [...]}

    def public(self, role: str) -> dict:
        entry = self.roles.get(role, {})
        return {"id": self.id, "role": role, "name": self.name, "size": self.size, "kind": self.kind,
                "info": entry.get("info", {}), "warnings": entry.get("warnings", [])}


class UploadStore:
    """Uploads stored once per content hash; ids are the SHA-256 of the bytes."""

    def __init__(self, root: Path, tmp_dir: Path):
        self.root = root
        self.tmp_dir = tmp_dir
        self.lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        tmp_dir.mkdir(parents=True, exist_ok=True)

    def blob_path(self, upload_id: str, ext: str) -> Path:
        if not SHA256_RE.match(upload_id) or not re.fullmatch(r"[a-z0-9]{1,5}", ext):
            raise ValueError("not a server-made upload id")
        return self.root / f"{upload_id}.{ext}"

    def get(self, upload_id: str) -> UploadInfo | None:
        if not isinstance(upload_id, str) or not SHA256_RE.match(upload_id):
            return None
        meta = self.root / f"{upload_id}.json"
        try:
            return UploadInfo(**read_json(meta))
        except (OSError, ValueError, TypeError):
            return None

    def path_of(self, info: UploadInfo) -> Path:
        return self.blob_path(info.id, info.ext)

    def save_meta(self, info: UploadInfo) -> None:
        atomic_write_json(self.root / f"{info.id}.json", asdict(info))

    def adopt(self, tmp_path: Path, upload_id: str, ext: str) -> Path:
        """Move a fully received temp file into place (or drop it when the same bytes are stored)."""
        final = self.blob_path(upload_id, ext)
        with self.lock:
            if final.exists():
                tmp_path.unlink(missing_ok=True)
            else:
                os.replace(tmp_path, final)
                _fsync_dir(self.root)
        return final


def hash_stream_to_temp(src, tmp_dir: Path, chunk: int = 1 << 20) -> tuple[Path, str, int, bytes]:
    """Copy a file object to a temp file under ``tmp_dir``; returns (path, sha256, size, first bytes)."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            while block := src.read(chunk):
                if len(head) < 4096:
                    head += block[: 4096 - len(head)]
                digest.update(block)
                size += len(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), digest.hexdigest(), size, head
