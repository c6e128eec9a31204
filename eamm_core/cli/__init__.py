"""The ``eamm`` command. Each sub-command lives in its own module exposing
``add_parser(subparsers)`` (which sets ``func``) so commands stay independent.

Errors meant for a person (:class:`~eamm_core.errors.EammError`) print one line and exit non-zero;
anything else is logged with its traceback to the log file only and reported as an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import secrets
import stat
import sys
import tempfile
import time
import traceback
from pathlib import Path

from eamm_core.runtime import single_thread_blas

single_thread_blas()  # before anything imports numpy (see eamm_core.runtime)

from eamm_core import __version__  # noqa: E402
from eamm_core.errors import EammError  # noqa: E402

log = logging.getLogger("eamm")

#: sub-command modules, in help order
COMMANDS = ("prepare", "generate", "assemble", "convert_checkpoint", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eamm", description="One-shot emotional talking faces (EAMM).")
    parser.add_argument("--version", action="version", version=f"eamm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"eamm_core.cli.{name}").add_parser(sub)
    return parser


def _private_crash_dir() -> Path:
    """``$TMPDIR/eamm-<uid>``: created 0700; refused when it is a link, not ours, or open to others."""
    uid = os.getuid() if hasattr(os, "getuid") else None  # Windows: the temp folder is per-user already
    folder = Path(tempfile.gettempdir()) / f"eamm-{uid if uid is not None else 'crash'}"
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid):
        raise OSError(f"{folder} is not a folder of this user")
    if uid is not None and stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(folder, 0o700)  # lstat said: a real folder, ours
    return folder


def _write_crash_log(exc: BaseException) -> Path:
    """A new file (exclusive, never through a symlink) holding the traceback."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = _private_crash_dir() / f"crash-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(traceback.format_exception(exc)))
    return path


def _report_internal_error(exc: BaseException) -> int:
    try:
        where = f"details in {_write_crash_log(exc)}"
    except Exception as log_exc:  # noqa: BLE001 - the error handler itself must never fail
        where = f"no crash log written ({type(log_exc).__name__}: {log_exc}); run with -v for details"
    sys.stderr.write(f"eamm: internal error ({type(exc).__name__}: {exc}); {where}\n")
    return 70


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except EammError as exc:
        sys.stderr.write(f"eamm: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("eamm: interrupted; frames written so far are kept\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into a message
        return _report_internal_error(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
