"""``eamm generate``'s job options, built from :class:`~eamm_core.job.JobSpec`'s field options.

Each field with command-line flags becomes one option whose ``dest`` is the field's name: its type,
default, choices and range come from the field, so :func:`job_arguments` hands the parsed values
straight to :class:`~eamm_core.job.JobSpec`. Fields that need more than a type (``strength``: a
number or a curve file) are added by hand and named in ``skip``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eamm_core.job import JobField, job_fields

_PARSERS = {int: int, float: float, str: str, Path: Path}


def optional_path(text: str) -> Path | None:
    """A path argument where an empty value means "not given" (a farm template's empty optional parameter)."""
    return Path(text) if text.strip() else None


def _ranged(parse, f: JobField):
    lo, hi = f.option.ge, f.option.le

    def check(text: str):
        value = parse(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"at least {lo:g}" if hi is None else f"between {lo:g} and {hi:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: give a value {bounds}")
        return value

    check.__name__ = parse.__name__  # argparse names the type in "invalid int value"
    return check


def argument_options(f: JobField) -> dict:
    """``add_argument`` keywords for one field (TypeError for a field that needs an option by hand)."""
    if f.scalar is bool:  # a switch that sets the field to what its default is not
        return {"action": "store_false" if f.default else "store_true"}
    if Path in f.types:
        parse = optional_path if f.optional else Path
    elif f.scalar in _PARSERS:
        parse = _PARSERS[f.scalar]
    else:
        raise TypeError(f"JobSpec.{f.name}: no command-line type for {f.type}; add its option by hand")
    if f.option.ge is not None or f.option.le is not None:
        parse = _ranged(parse, f)
    kw = {"type": parse}
    if f.required:
        kw["required"] = True
    else:
        kw["default"] = f.default
    if f.option.choices:
        kw["choices"] = f.option.choices
    else:
        kw["metavar"] = f.option.cli[0].lstrip("-").upper().replace("-", "_")
    return kw


def add_job_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = (),
                      only: tuple[str, ...] | None = None) -> None:
    """One option per :class:`~eamm_core.job.JobSpec` field with flags (``dest`` = the field name);
    ``only`` limits them to those fields (e.g. the ones ``eamm prepare`` reads)."""
    for f in job_fields():
        if f.option.cli and f.name not in skip and (only is None or f.name in only):
            parser.add_argument(*f.option.cli, dest=f.name, help=f.option.help, **argument_options(f))


def job_arguments(args: argparse.Namespace) -> dict:
    """The parsed job options as :class:`~eamm_core.job.JobSpec` keywords."""
    return {f.name: getattr(args, f.name) for f in job_fields() if f.option.cli and hasattr(args, f.name)}


def job_option(name: str):
    """The :class:`~eamm_core.job.Option` of field ``name`` (for options added by hand)."""
    return next(f.option for f in job_fields() if f.name == name)
