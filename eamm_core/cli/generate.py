"""``eamm generate``: one job from the artist's files to frames, MP4 and manifest (docs/cli.md)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from eamm_core.cli.job_options import add_job_arguments, job_arguments, job_option, optional_path
from eamm_core.errors import InputError
from eamm_core.job import RUN_STAGES, JobResult, JobSpec, Progress

log = logging.getLogger("eamm.generate")

BAR_WIDTH = 30


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="make a talking-face video from a portrait, speech and an emotion",
        description="Animate a portrait with speech and an emotion; writes numbered PNG frames, result.mp4 and "
                    "manifest.json into --out. Runs again into the same folder resume where they stopped.")
    add_job_arguments(p, skip=("strength",))
    group = p.add_mutually_exclusive_group()
    group.add_argument(*job_option("strength").cli, type=number_or_path, default=None,
                       help=job_option("strength").help)
    group.add_argument("--strength-curve", type=Path, help="α over time: CSV or JSON of frame -> value keys (25 fps)")
    p.add_argument("--cache-dir", type=optional_path, help="stage cache (default $EAMM_CACHE or ~/.cache/eamm)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the stage cache")
    p.add_argument("--no-resume", action="store_true", help="render every frame even if some are on disk")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--stage", choices=RUN_STAGES, default="all",
                   help="all (default): the whole job; motion: a farm's first step (prepare + motion into the cache, "
                        "OUT/job.json); render: one frame range as a farm chunk (frames only; docs/farm.md)")
    p.add_argument("--frames", type=frame_range, metavar="A-B",
                   help="frames A to B inclusive (a farm's chunk, e.g. 0-99; same as --frame-start A --frame-end B+1)")
    p.add_argument("--wait", action="store_true", help="wait while another job uses --out instead of failing")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.set_defaults(func=run)


def number_or_path(text: str) -> float | Path:
    """``--strength``: a number, or a strength curve file (one farm parameter for both)."""
    try:
        return float(text)
    except ValueError:
        return Path(text)


def frame_range(text: str) -> tuple[int, int]:
    """``A-B`` (inclusive) or ``A``, as farm managers write a chunk -> (start, end exclusive)."""
    first, sep, last = text.strip().partition("-")
    try:
        start = int(first)
        end = int(last) + 1 if sep else start + 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame range like 0-99") from None
    if end <= start:
        raise argparse.ArgumentTypeError(f"{text!r}: the last frame comes before the first")
    return start, end


def spec_from_args(args: argparse.Namespace) -> JobSpec:
    """The job an ``eamm generate`` command line describes."""
    job = job_arguments(args)
    strength: object = 1.0 if args.strength is None else args.strength
    curve = args.strength_curve if not isinstance(strength, Path) else strength
    if curve is not None:
        from eamm_core.curves import load_curve

        strength = load_curve(curve)
    job["strength"] = strength
    frames = getattr(args, "frames", None)
    if frames is not None:
        job["frame_start"], job["frame_end"] = frames
    transcript = job.get("transcript")
    if transcript and transcript.lower().endswith(".txt"):
        path = Path(transcript)
        if not path.is_file():
            raise InputError(path, "transcript file not found", "check the path or give the text itself")
        transcript = path.read_text(encoding="utf-8").strip()
    job["transcript"] = transcript or None
    if job.get("emotion") is not None:
        from eamm_core.presets import resolve_emotion

        job["emotion"] = resolve_emotion(job["emotion"])
    return JobSpec(**job)


class ProgressBar:
    """A one-line progress bar on stderr (redrawn with ``\\r``; plain lines when not a terminal)."""

    def __init__(self, stream=None, enabled: bool = True):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_stage = None
        self.t0 = time.perf_counter()

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        if p.stage != "render":
            if p.stage != self.last_stage:
                self._line(f"{p.stage}: {p.message}".rstrip(": "), final=True)
            self.last_stage = p.stage
            return
        self.last_stage = p.stage
        total = max(p.total, 1)
        filled = int(BAR_WIDTH * p.done / total)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        text = f"render [{bar}] {p.done}/{p.total} frames"
        if self.tty:
            self._line(text, final=p.done >= p.total)
        elif p.done >= p.total or p.done % 25 == 0:
            self._line(text, final=True)

    def _line(self, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def summary(res: JobResult, seconds: float) -> str:
    """The one line printed at the end of a job."""
    fps = res.frame_count / seconds if seconds > 0 else 0.0
    cached = ", ".join(res.cached_stages) or "none"
    where = f"MP4 {res.mp4}" if res.mp4 else f"frames in {res.frames_dir}"
    state = "cancelled: " if res.cancelled else ""
    line = f"{state}{res.frame_count} frames in {seconds:.1f} s ({fps:.1f} fps); {where}; cached: {cached}"
    reference = getattr(res, "emotion_reference", None)
    return f"{line}; {reference}" if reference else line


def run(args: argparse.Namespace) -> int:
    from eamm_core.pipeline import run_job

    spec = spec_from_args(args)
    cancel = threading.Event()
    previous = _cancel_on_interrupt(cancel)
    t0 = time.perf_counter()
    stage = getattr(args, "stage", "all")
    kwargs = dict(progress=ProgressBar(enabled=not args.quiet), cancel=cancel, cache_dir=args.cache_dir,
                  resume=not args.no_resume, use_cache=not args.no_cache, wait=getattr(args, "wait", False))
    try:
        if stage == "motion":
            return _run_motion(spec, args, kwargs, t0)
        if stage == "render":
            from eamm_core.chunks import run_render_chunk

            res = run_render_chunk(spec, args.out, **kwargs)
        else:
            res = run_job(spec, args.out, **kwargs)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    for warning in res.warnings:
        log.warning("warning: %s", warning)
    sys.stdout.write(summary(res, time.perf_counter() - t0) + "\n")
    return 130 if res.cancelled else 0


def _run_motion(spec: JobSpec, args: argparse.Namespace, kwargs: dict, t0: float) -> int:
    """``--stage motion``: prints the shot's frame count (25 fps) on stdout, the rest on stderr."""
    from eamm_core.chunks import run_motion_stage

    res = run_motion_stage(spec, args.out, **kwargs)
    cached = ", ".join(res.cached_stages) or "none"
    log.info("motion step: %d frames in %.1f s; job %s in %s; cached: %s", res.frame_count,
             time.perf_counter() - t0, res.job_key[:12], res.job_file, cached)
    sys.stdout.write(f"{res.frame_count}\n")
    return 0


def _cancel_on_interrupt(cancel: threading.Event):
    """First Ctrl-C: finish the current frame, keep the frames and stop; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        sys.stderr.write("\neamm: stopping after the current frame (Ctrl-C again to abort)\n")
        cancel.set()

    return signal.signal(signal.SIGINT, handler)
