"""The output-folder lock: one job at a time in an ``--out`` folder (docs/cli.md, "Output folder").

A folder is held *by job key*: every run of a job writes a holder file
``OUT/.eamm-lock/<host>-<pid>-<n>.json`` (job key, host, pid, mode) and refreshes its modification
time every :data:`HEARTBEAT_S` seconds while it runs. Runs of the same job key share the folder
(frame-range chunks of one shot on a farm); a run of another job key, or any run while an
exclusive holder (``eamm assemble``) is there, is refused with a :class:`FolderBusyError` naming the
holder, or waits for it (``wait=True``). The decision is made under a short mutex (an atomic
``mkdir`` of ``OUT/.eamm-lock/mutex``, which also works on network shares).

A holder left behind by a killed process is taken over: on the same host when its pid is gone, on
any host when its heartbeat is older than :data:`STALE_S` (a dead machine).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from eamm_core.errors import EammError

log = logging.getLogger(__name__)

LOCK_DIR = ".eamm-lock"
HEARTBEAT_S = 5.0
#: a holder whose heartbeat is older than this is dead (a crashed or unplugged machine)
STALE_S = 60.0
#: a mutex older than this was left by a killed process (it is held for milliseconds)
MUTEX_STALE_S = 30.0
_COUNTER = itertools.count()


class FolderBusyError(EammError):
    """The output folder is in use by another job (exit code 2: the user's environment)."""

    exit_code = 2


@dataclass(frozen=True)
class Holder:
    """One run holding a folder, as its holder file says."""

    job_key: str
    host: str
    pid: int
    exclusive: bool
    path: Path

    def describe(self) -> str:
        what = "eamm assemble" if self.exclusive else f"job {self.job_key[:12]}"
        return f"{what} (host {self.host}, pid {self.pid})"


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return True
    return True


def _pid_alive_windows(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return not ok or code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(str(data["job_key"]), str(data["host"]), int(data["pid"]), bool(data.get("exclusive")), path)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # being written, or removed meanwhile


def _is_stale(holder: Holder, now: float) -> bool:
    """Dead: on this host, its process is gone (exact, whatever its heartbeat); elsewhere, its
    heartbeat is older than :data:`STALE_S`."""
    if holder.host == socket.gethostname():
        return holder.pid != os.getpid() and not _pid_alive(holder.pid)
    try:
        age = now - holder.path.stat().st_mtime
    except OSError:
        return True
    return age > STALE_S


def live_holders(folder: Path) -> list[Holder]:
    """The live holders of ``folder``; dead ones' files are removed on the way."""
    lock_dir = Path(folder) / LOCK_DIR
    found = []
    now = time.time()
    for path in sorted(lock_dir.glob("*.json")) if lock_dir.is_dir() else ():
        holder = _read_holder(path)
        if holder is None:
            continue
        if _is_stale(holder, now):
            log.info("taking over %s: its holder %s is gone", folder, holder.describe())
            path.unlink(missing_ok=True)
            continue
        found.append(holder)
    return found


@contextlib.contextmanager
def _mutex(lock_dir: Path):
    path = lock_dir / "mutex"
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            try:
                if time.time() - path.stat().st_mtime > MUTEX_STALE_S:
                    os.rmdir(path)
                    continue
            except OSError:
                pass
            time.sleep(0.02)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(path)


class FolderLock:
    """A held output folder; :meth:`release` (or leaving the ``with`` block) lets it go."""

    def __init__(self, folder: Path, job_key: str, exclusive: bool, path: Path):
        self.folder, self.job_key, self.exclusive, self.path = Path(folder), job_key, exclusive, path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="eamm-folder-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _conflict(holders: list[Holder], job_key: str, exclusive: bool) -> Holder | None:
    for h in holders:
        if exclusive or h.exclusive or h.job_key != job_key:
            return h
    return None


def _hold(folder: Path, lock_dir: Path, job_key: str, exclusive: bool) -> FolderLock:
    path = lock_dir / f"{socket.gethostname()}-{os.getpid()}-{next(_COUNTER)}.json"
    record = {"job_key": job_key, "host": socket.gethostname(), "pid": os.getpid(), "exclusive": exclusive,
              "started": time.time()}
    path.write_text(json.dumps(record), encoding="utf-8")
    return FolderLock(folder, job_key, exclusive, path)


def acquire(folder: Path, job_key: str, *, exclusive: bool = False, wait: bool = False,
            poll_s: float = 0.5) -> FolderLock:
    """Hold ``folder`` for ``job_key`` (shared with runs of the same key unless ``exclusive``).

    Raises :class:`FolderBusyError` naming the holder when another job (or an exclusive run) has
    it, or waits until it is free with ``wait=True``."""
    folder = Path(folder)
    lock_dir = folder / LOCK_DIR
    announced = False
    while True:
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            with _mutex(lock_dir):
                other = _conflict(live_holders(folder), job_key, exclusive)
                if other is None:
                    return _hold(folder, lock_dir, job_key, exclusive)
        except OSError as exc:  # a file where the folder should be, no permission, a full disk
            raise EammError(f"cannot use the output folder {folder} ({exc.strerror or exc}): "
                                  "choose a writable folder for --out") from None
        if not wait:
            raise FolderBusyError(f"output folder {folder} is in use by {other.describe()}: wait for it to "
                                  "finish (or pass --wait), or choose another --out")
        if not announced:
            log.info("waiting for %s: in use by %s", folder, other.describe())
            announced = True
        time.sleep(poll_s)


# --- which job the frames on disk belong to ------------------------------------------------------

#: ``OUT/frames-job.json``: the job key of the frames in ``OUT/frames`` (and ``OUT/pasted``)
FRAMES_JOB = "frames-job.json"


def frames_job_key(folder: Path, manifest: dict | None = None) -> str | None:
    """The job key that made the frames in ``folder`` (its frames record; for a folder written before
    records existed, the manifest's job key), or None when unknown."""
    try:
        data = json.loads((Path(folder) / FRAMES_JOB).read_text(encoding="utf-8"))
        return str(data["job_key"])
    except FileNotFoundError:
        return None if manifest is None else manifest.get("job_key")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_frames_job(folder: Path, job_key: str) -> None:
    """Record that the frames ``folder`` holds (from now on) are ``job_key``'s. Written after the
    old job's frames have left the folder and before the first new frame."""
    from eamm_core.output import atomic_write_bytes

    atomic_write_bytes(Path(folder) / FRAMES_JOB, json.dumps({"job_key": job_key}).encode("utf-8"))
