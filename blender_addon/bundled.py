"""The server bundled in a platform zip (``payload/``, built by scripts/build_addon.py): set up once, run isolated.

At first use the payload's wheels and the project's packages are unpacked into
``<extension user folder>/server-<payload id>/site`` (never into the extension's own folder), with a
``.complete`` marker written last: a folder without it (Blender closed mid-way, a full disk) is removed and
unpacked again, and other ``server-*`` folders (an older version of the extension) are removed. The server
then runs as ``<Blender's python> -I -S run_server.py``: isolated from the environment and from Blender's
own site-packages, with only the unpacked site folder on its path; nothing of it is imported into Blender.

Standard library only, no bpy (the caller passes the user folder): it runs on worker threads.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

from .state import AddonError

PAYLOAD = Path(__file__).resolve().parent / "payload"
MARKER = ".complete"
LAUNCHER = """# written by the EAMM add-on: runs eamm-server with only the unpacked packages on the path
import os
import site
import sys

site.addsitedir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "site"))
from server.main import main

sys.exit(main())
"""
_LOCK = threading.Lock()
Progress = Callable[[float, str], None]


@functools.lru_cache(maxsize=1)
def info() -> dict | None:
    """payload.json of the bundled server, or None when this zip has none (the plain add-on)."""
    try:
        return json.loads((PAYLOAD / "payload.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def available() -> bool:
    return info() is not None


def root(user_dir: Path) -> Path:
    return Path(user_dir) / f"server-{info()['id']}"


def is_ready(user_dir: Path) -> bool:
    try:
        return (root(user_dir) / MARKER).read_text(encoding="utf-8").strip() == info()["id"]
    except OSError:
        return False


def server_args(user_dir: Path, python: str | None = None) -> list[str]:
    """How to run the bundled server (``--port`` and ``--watch-stdin`` are added by the caller); its jobs
    and stage cache live in the extension's user folder too."""
    top = root(user_dir)
    return [python or sys.executable, "-I", "-S", str(top / "run_server.py"), "--data", str(Path(user_dir) / "data")]


def _members(zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, str]]:
    """(member, path under site/) of a wheel: a ``*.data/purelib|platlib`` part goes to site/ as pip
    puts it; scripts, headers and other data of a wheel are not needed by the server."""
    out = []
    for member in zf.infolist():
        name = member.filename
        first, _, rest = name.partition("/")
        if first.endswith(".data"):
            kind, _, rest = rest.partition("/")
            if kind not in ("purelib", "platlib") or not rest:
                continue
            name = rest
        if not member.is_dir():
            out.append((member, name))
    return out


def _unpack(archive: Path, site: Path, done: list[int], total: int, progress: Progress) -> None:
    with zipfile.ZipFile(archive) as zf:
        for member, name in _members(zf):
            dest = site / name
            if ".." in Path(name).parts or Path(name).is_absolute():
                raise ValueError(f"{archive.name}: unsafe path {name!r}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            if (member.external_attr >> 16) & 0o111:
                os.chmod(dest, 0o755)
            before = done[0] * 100 // total
            done[0] += member.file_size
            if done[0] * 100 // total != before:  # at most 100 calls, not one per file
                progress(done[0] / total, f"setting up the bundled server (first use): {done[0] * 100 // total}%")


def ensure(user_dir: Path, progress: Progress = lambda fraction, line: None) -> Path:
    """Unpack the payload unless this version's setup is complete; returns the setup's folder.
    Runs on a worker thread (seconds: ~0.7 GB written); safe to call from several at once.
    A disk that is full or not writable ends it with one line for the panel (AddonError)."""
    try:
        return _ensure(Path(user_dir), progress)
    except OSError as exc:
        raise AddonError(f"could not set up the bundled server in {user_dir} ({exc.strerror or exc}): it needs "
                         "about 0.8 GB free there; free some space and generate again", "not_running") from None


def _ensure(user_dir: Path, progress: Progress) -> Path:
    with _LOCK:
        top = root(user_dir)
        if is_ready(user_dir):
            return top
        meta = info()
        user_dir.mkdir(parents=True, exist_ok=True)
        for old in user_dir.glob("server-*"):  # older versions and broken or partial setups
            shutil.rmtree(old, ignore_errors=True)
        part = user_dir / f"server-{meta['id']}.part"
        archives = [PAYLOAD / meta["project"], *(PAYLOAD / w for w in meta["wheels"])]
        total = 0
        for archive in archives:
            with zipfile.ZipFile(archive) as zf:
                total += sum(m.file_size for m, _ in _members(zf))
        done = [0]
        progress(0.0, "setting up the bundled server (first use)…")
        for archive in archives:
            _unpack(archive, part / "site", done, max(1, total), progress)
        (part / "run_server.py").write_text(LAUNCHER, encoding="utf-8")
        (part / MARKER).write_text(meta["id"], encoding="utf-8")
        part.rename(top)
        return top
