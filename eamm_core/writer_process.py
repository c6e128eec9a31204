"""Frame writing (PNG files, the MP4 stream) in a forked child process beside the render.

The render and the writing of its frames run at the same time. On a thread, the writer shares the
interpreter lock with the render: every one of its dozen lock hand-overs a frame (each NumPy,
deflate, file or pipe call releases the lock) costs the render thread a context switch. In a
child process it shares nothing: the parent copies each frame into a ring of shared-memory slots
and sends the frame's index over a pipe; the child writes it and acknowledges it. An alpha-only
rerun of the demo is ~10 % faster in wall time this way (docs/benchmarks.md, round 4); the frames
and the MP4 are the same bytes.

The child is forked (no re-import): Linux only, from a process with no other thread (forking a
threaded process can leave the child with a lock no thread will release; a thread that holds none
the child could need may say so, see :data:`FORK_SAFE_ATTR`), and only for work that
never calls OpenCV in the child (OpenCV's thread pool does not survive a fork). Elsewhere the
pipeline keeps its writer thread; :func:`usable` says which. The child ignores SIGINT (the parent
decides what an interrupt means), never returns into the parent's code (``os._exit``), and stops
when the parent goes away (end of file on its pipe).

Protocol: records of two little-endian int32 (kind, value). Parent to child: ``FRAME index`` (the
frame is in slot ``sequence % slots``), ``FINISH``, ``ABORT``. Child to parent: ``WRITTEN index``,
``DONE flag`` (the child's ``finish`` result), ``FAILED length`` followed by a UTF-8 message.
"""

from __future__ import annotations

import mmap
import os
import select
import signal
import struct
import sys
import threading
from collections.abc import Callable

import numpy as np

from eamm_core.errors import EammError

_RECORD = struct.Struct("<ii")
FRAME, FINISH, ABORT = 0, 1, 2
WRITTEN, DONE, FAILED = 0, 1, 2
#: frames that may wait in shared memory for the child
SLOTS = 6
#: environment variable: "thread" keeps frame writing on a thread even where a process is usable
ENV_MODE = "EAMM_FRAME_WRITER"


#: attribute a thread may carry (set to True) to say forking beside it is safe: it holds no lock the
#: child could need (the server's job runner marks its stdin watcher, which only ever reads stdin)
FORK_SAFE_ATTR = "eamm_fork_safe"


def usable() -> bool:
    """Can this process write frames in a forked child? (Linux, ``os.fork``, no other thread but
    ones marked with :data:`FORK_SAFE_ATTR`, not switched off with ``EAMM_FRAME_WRITER=thread``.)"""
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")):
        return False
    if os.environ.get(ENV_MODE, "").strip().lower() == "thread":
        return False
    me = threading.current_thread()
    return all(t is me or getattr(t, FORK_SAFE_ATTR, False) for t in threading.enumerate())


class WriterProcess:
    """A child process that calls ``write(index, rgb)`` for every submitted frame, in order, then
    ``finish()`` (returning a bool for the parent) or, after :meth:`close` with ``abort=True``,
    ``abort()``. Both callables run in the child only. Not thread-safe; one per job."""

    def __init__(self, write: Callable[[int, np.ndarray], None], finish: Callable[[], bool],
                 abort: Callable[[], None], shape: tuple[int, ...]):
        self.shape = tuple(shape)
        self.done = 0  # frames the child has written
        self.finished = False  # the child's ``finish()`` result
        self._got_done = False
        self._sent = 0
        self._buffer = bytearray()
        self._error: str | None = None
        frame_bytes = int(np.prod(self.shape))
        self._memory = mmap.mmap(-1, SLOTS * frame_bytes)  # anonymous and shared: the child sees the same pages
        self._ring = np.ndarray((SLOTS, *self.shape), np.uint8, buffer=self._memory)
        to_child, self._from_parent = os.pipe()
        self._from_child, to_parent = os.pipe()
        self._pid = os.fork()
        if self._pid == 0:  # pragma: no cover - the child; its effects are tested from the parent
            os.close(self._from_parent)
            os.close(self._from_child)
            _child_main(to_child, to_parent, self._ring, write, finish, abort)
        os.close(to_child)
        os.close(to_parent)
        os.set_blocking(self._from_child, False)

    def submit(self, index: int, rgb: np.ndarray) -> None:
        """Hand frame ``index`` to the child (waits while every slot is in use)."""
        if rgb.shape != self.shape:
            raise EammError(f"frame {index} is {rgb.shape}, the job's frames are {self.shape}")
        self._collect(block=False)
        while self._error is None and self._sent - self.done >= SLOTS:
            self._collect(block=True)
        if self._error is not None:
            raise EammError(self._error)
        self._ring[self._sent % SLOTS] = rgb
        self._send(FRAME, index)
        self._sent += 1

    def poll(self) -> int:
        """Frames written so far (reads the child's acknowledgements without waiting)."""
        self._collect(block=False)
        return self.done

    def close(self, *, abort: bool = False) -> bool:
        """Wait until every submitted frame is written, then let the child run ``finish()`` (or
        ``abort()``) and end; returns ``finish()``'s result (False after an abort). Raises
        :class:`EammError` with the child's message if a write failed."""
        if self._pid is None:
            return self.finished
        try:
            self._send(ABORT if abort else FINISH, 0)
            while self._pid is not None and not self._ended():
                self._collect(block=True)
        except OSError:
            self._error = self._error or "the frame writer process stopped unexpectedly"
        finally:
            self._reap()
        if self._error is not None:
            raise EammError(self._error)
        return self.finished and not abort

    def kill(self) -> None:
        """Stop the child at once (the parent is failing); frames it wrote stay on disk."""
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    # --- internals -------------------------------------------------------------------------

    def _send(self, kind: int, value: int) -> None:
        try:
            os.write(self._from_parent, _RECORD.pack(kind, value))
        except BrokenPipeError:
            self._collect(block=False)
            raise EammError(self._error or "the frame writer process stopped unexpectedly") from None

    def _ended(self) -> bool:
        return self._error is not None or self._got_done

    def _collect(self, *, block: bool) -> None:
        """Read the child's records; ``block``: wait for at least one byte (or the end of the pipe)."""
        if block:
            select.select([self._from_child], [], [])
        while True:
            try:
                chunk = os.read(self._from_child, 65536)
            except BlockingIOError:
                break
            if not chunk:  # the child has gone: after its last records, or without them
                self._parse()
                if not self._got_done and self._error is None:
                    self._error = "the frame writer process stopped unexpectedly; frames written so far are kept"
                return
            self._buffer += chunk
        self._parse()

    def _parse(self) -> None:
        size = _RECORD.size
        while len(self._buffer) >= size:
            kind, value = _RECORD.unpack_from(self._buffer)
            if kind == FAILED:
                if len(self._buffer) < size + value:
                    return
                self._error = bytes(self._buffer[size:size + value]).decode("utf-8", "replace")
                del self._buffer[:size + value]
                continue
            del self._buffer[:size]
            if kind == WRITTEN:
                self.done += 1
            elif kind == DONE:
                self.finished, self._got_done = bool(value), True

    def _reap(self) -> None:
        if self._pid is None:
            return
        os.waitpid(self._pid, 0)
        self._pid = None
        for fd in (self._from_parent, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
        self._ring = None
        self._memory.close()


def _child_main(inbox: int, outbox: int, ring: np.ndarray, write, finish, abort) -> None:  # pragma: no cover
    """The child's loop (runs in the forked process and never returns)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sequence = 0
        while True:
            record = _read_exactly(inbox, _RECORD.size)
            if record is None:  # the parent has gone: end like a cancelled job
                abort()
                break
            kind, value = _RECORD.unpack(record)
            if kind == FRAME:
                write(value, ring[sequence % len(ring)])
                sequence += 1
                os.write(outbox, _RECORD.pack(WRITTEN, value))
            else:
                result = finish() if kind == FINISH else (abort(), False)[1]
                os.write(outbox, _RECORD.pack(DONE, int(bool(result))))
                break
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it as an EammError
        message = (str(exc) if isinstance(exc, EammError) else f"{type(exc).__name__}: {exc}").encode("utf-8")
        try:
            abort()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            pass
        try:
            os.write(outbox, _RECORD.pack(FAILED, len(message)) + message)
        except OSError:
            pass
        code = 1
    finally:
        os._exit(code)


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
