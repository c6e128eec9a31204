"""The ``eamm`` command. Each sub-command lives in its own module exposing
``add_parser(subparsers)`` (which sets ``func``) so commands stay independent.

Errors meant for a person (:class:`~eamm_core.errors.EammError`) print one line and exit non-zero;
anything else is logged with its traceback to the log file only and reported as an internal error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
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
        try:
            module = importlib.import_module(f"eamm_core.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"eamm_core.cli.{name}":
                continue  # command not built into this installation
            raise
        module.add_parser(sub)
    return parser


def _report_internal_error(exc: BaseException) -> int:
    log_path = Path(tempfile.gettempdir()) / "eamm-crash.log"
    log_path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    sys.stderr.write(f"eamm: internal error ({type(exc).__name__}: {exc}); details in {log_path}\n")
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
