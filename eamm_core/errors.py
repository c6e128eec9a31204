"""Errors an artist can read: which file, what is wrong, what to do.

Every error that reaches the CLI, the server or the add-on is an :class:`EammError`; its ``str`` is
one line. Anything else is a bug and is reported as such (with the traceback in the log only).
"""

from __future__ import annotations

from pathlib import Path


class EammError(Exception):
    """Base class of every error meant for a person (one line, no traceback)."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(EammError):
    """A user-supplied file or value is unusable.

    ``InputError(path, problem, fix)`` renders as ``"<problem> in <name>: <fix>"`` style lines, e.g.
    ``no face found in portrait.jpg: use a photo where the face is frontal and at least 80 px wide``.
    """

    def __init__(self, path: str | Path | None, problem: str, fix: str = "", *, field: str | None = None):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.fix = fix
        self.field = field
        name = self.path.name if self.path is not None else (field or "input")
        message = f"{problem} in {name}" if self.path is not None else f"{name}: {problem}"
        if fix:
            message += f": {fix}"
        super().__init__(message)


class ModelNotFoundError(EammError):
    """The requested engine needs a model that is not installed."""


class CancelledError(EammError):
    """A job was cancelled; frames written so far are kept."""

    exit_code = 130
