"""The running job's cancel flag, seen by long loops deep inside the stages.

:func:`eamm_core.pipeline.run_job` runs a job inside :func:`cancel_scope` with its cancel event; a
loop that may take more than a fraction of a second (phone decoding, MFCC blocks, the mouth blend,
reading an emotion clip) calls :func:`check_cancelled` between its chunks, which raises
:class:`~eamm_core.errors.CancelledError` once the event is set. Outside a scope it does nothing.
"""

from __future__ import annotations

import contextlib
import threading
from contextvars import ContextVar

from eamm_core.errors import CancelledError

_current: ContextVar[threading.Event | None] = ContextVar("eamm_cancel", default=None)


@contextlib.contextmanager
def cancel_scope(event: threading.Event | None):
    """Make ``event`` the cancel flag :func:`check_cancelled` reads in this thread for the block."""
    token = _current.set(event)
    try:
        yield
    finally:
        _current.reset(token)


def check_cancelled() -> None:
    """Raise :class:`CancelledError` if the current job's cancel event is set."""
    event = _current.get()
    if event is not None and event.is_set():
        raise CancelledError("cancelled; frames written so far are kept")
