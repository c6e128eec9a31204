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


class OutputFolderError(EammError):
    """The output folder cannot be created or written (``os_error`` is the OS's error)."""

    def __init__(self, message: str, os_error: OSError):
        super().__init__(message)
        self.os_error = os_error


def _not_a_folder(path: Path) -> Path | None:
    """``path`` or its nearest existing ancestor when that is not a folder (a file in the way)."""
    for p in (path, *path.parents):
        if p.exists():
            return None if p.is_dir() else p
    return None


def folder_error(folder: str | Path, exc: OSError, doing: str, *, kept: bool = False) -> OutputFolderError:
    """An output-folder problem (the user's environment, not a bug) as one line saying which it is
    (a file in the way, permission, space) and what to do. ``kept``: frames already written stay."""
    import errno

    folder = Path(folder)
    tail = "; the frames already written are kept" if kept else ""
    blocker = None
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        named = Path(exc.filename) if exc.filename else None
        blocker = named if named is not None and named.exists() and not named.is_dir() else _not_a_folder(folder)
    if blocker is not None:
        return OutputFolderError(f"output folder {folder}: {blocker} is a file, not a folder: "
                                 f"choose a folder for --out{tail}", exc)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = "read-only file system" if exc.errno == errno.EROFS else "no write permission"
        return OutputFolderError(f"cannot {doing} in {folder}: permission denied ({what}): make the folder "
                                 f"writable or choose another output folder (--out){tail}", exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return OutputFolderError(f"cannot {doing} in {folder}: no space left on the disk: free some space "
                                 f"or choose another output folder (--out){tail}", exc)
    return OutputFolderError(f"cannot {doing} in {folder}: {exc.strerror or exc}: check the folder or choose "
                             f"another output folder (--out){tail}", exc)
