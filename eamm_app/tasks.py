"""Run blocking calls (HTTP, file I/O) on a thread pool; results come back as Qt signals.

The UI thread never waits: :meth:`TaskRunner.submit` returns at once, and ``on_done`` / ``on_error``
run later in the UI thread (queued signal connections to an object living there).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)


class _Signals(QObject):
    done = Signal(int, object)
    failed = Signal(int, object)


class _Task(QRunnable):
    def __init__(self, task_id: int, fn: Callable[..., Any], args: tuple, signals: _Signals):
        super().__init__()
        self.task_id, self.fn, self.args, self.signals = task_id, fn, args, signals
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        try:
            result = self.fn(*self.args)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the UI as a message
            self.signals.failed.emit(self.task_id, exc)
        else:
            self.signals.done.emit(self.task_id, result)


class TaskRunner(QObject):
    """Submit callables to a private ``QThreadPool``; callbacks are invoked in this object's thread."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 4):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._callbacks: dict[int, tuple[Callable | None, Callable | None]] = {}
        self._ids = itertools.count(1)

    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Callable | None = None,
               on_error: Callable | None = None) -> int:
        task_id = next(self._ids)
        self._callbacks[task_id] = (on_done, on_error)
        self.pool.start(_Task(task_id, fn, args, self._signals))
        return task_id

    @property
    def pending(self) -> int:
        return len(self._callbacks)

    @Slot(int, object)
    def _on_done(self, task_id: int, result: object) -> None:
        on_done, _ = self._callbacks.pop(task_id, (None, None))
        if on_done is not None:
            on_done(result)

    @Slot(int, object)
    def _on_failed(self, task_id: int, exc: object) -> None:
        _, on_error = self._callbacks.pop(task_id, (None, None))
        if on_error is not None:
            on_error(exc)
        else:
            log.warning("background task failed: %s", exc)

    def wait(self, msecs: int = 30000) -> bool:
        """Wait for running tasks (shutdown and tests only; never from a UI callback)."""
        return self.pool.waitForDone(msecs)
