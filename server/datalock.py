"""One server per data folder: ``<data>/server.lock`` held with an OS file lock for the server's life.

The lock is an advisory ``flock`` (``msvcrt.locking`` on Windows) on an open file: the OS releases it
when the process dies, so a lock left by a killed server is free again and simply taken over. The
file's content (host, pid, URL) only names the holder for the refusal message.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

LOCK_NAME = "server.lock"


class DataFolderInUse(Exception):
    """Another live server holds the data folder (one line naming it)."""


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']}, {info['url']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its details yet"


def acquire(data_dir: Path, url: str) -> int:
    """Lock ``data_dir`` for this process; returns the descriptor to keep open (closing it unlocks).
    Raises :class:`DataFolderInUse` when a live server holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    if not _try_lock(fd):
        os.close(fd)
        raise DataFolderInUse(f"the data folder {data_dir} is in use by another eamm-server ({_holder(path)}): "
                              "use that server, stop it, or start this one with another --data")
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "url": url}).encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0) if hasattr(os, "pwrite") else os.write(fd, record)
    return fd
