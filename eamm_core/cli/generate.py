"""``eamm generate``: one job from the artist's files to frames, MP4 and manifest (docs/cli.md)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from eamm_core.engines.base import ENGINE_NAMES
from eamm_core.errors import InputError
from eamm_core.job import JobResult, JobSpec, Progress
from eamm_core.prepare.landmark_models import DEFAULT_LANDMARKS, LANDMARK_MODELS

log = logging.getLogger("eamm.generate")

BAR_WIDTH = 30
STAGE_CHOICES = ("all", "motion", "render")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="make a talking-face video from a portrait, speech and an emotion",
        description="Animate a portrait with speech and an emotion; writes numbered PNG frames, result.mp4 and "
                    "manifest.json into --out. Runs again into the same folder resume where they stopped.")
    p.add_argument("--portrait", type=Path, required=True, help="portrait image (PNG/JPEG/WebP/TIFF)")
    p.add_argument("--audio", type=Path, required=True, help="speech (WAV/FLAC/OGG/MP3/M4A or a video's audio)")
    p.add_argument("--emotion", type=Path, help="emotion clip (video or folder of frames), emotion preset (.npz), "
                                                "or a bundled preset's name: happy, sad, disgusted")
    p.add_argument("--neutral", type=optional_path, help="a neutral clip of the emotion clip's actor (optional)")
    p.add_argument("--pose", type=optional_path, help="pose: 3DDFA .npy, [T,6] .npy/.csv, a video, or a keyed curve "
                                             "(.json, or .csv with a 'frame,...' header)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--strength", type=number_or_path, default=None,
                       help="emotion strength α for every frame (default 1), or a curve file as --strength-curve")
    group.add_argument("--strength-curve", type=Path, help="α over time: CSV or JSON of frame -> value keys (25 fps)")
    p.add_argument("--engine", choices=ENGINE_NAMES, default="landmark", help="which engine (default: landmark)")
    p.add_argument("--model", "--model-dir", dest="model_dir", type=Path,
                   help="neural engine: the converted model folder (default $EAMM_MODEL_DIR/eamm; docs/models.md)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="neural engine: arithmetic precision (bf16 is about 2x faster on CPUs with AVX-512 BF16)")
    p.add_argument("--paste-back", action="store_true", help="also write frames pasted into the full portrait")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same frames)")
    p.add_argument("--transcript", help="what is said (text, or a .txt file) to help the lip sync")
    p.add_argument("--face-index", type=int, help="which face when the portrait has several (0 = largest)")
    p.add_argument("--landmarks", choices=LANDMARK_MODELS, default=DEFAULT_LANDMARKS,
                   help=f"face landmark model (default {DEFAULT_LANDMARKS}; mediapipe478 is Apache-2.0, dlib68's "
                        "training data is non-commercial: docs/licenses.md)")
    p.add_argument("--frame-start", type=int, default=0, help="first 25 fps frame to render")
    p.add_argument("--frame-end", type=int, help="render up to this 25 fps frame (exclusive)")
    p.add_argument("--no-blink", action="store_true", help="no automatic blinks")
    p.add_argument("--idle-motion", action="store_true", help="add small idle head motion")
    p.add_argument("--smooth-pose", action="store_true", help="One-Euro smoothing of the pose")
    p.add_argument("--no-mp4", action="store_true", help="write frames and manifest only")
    p.add_argument("--device", default="auto", help="neural engine device: auto, cpu, cuda, cuda:N")
    p.add_argument("--cache-dir", type=optional_path, help="stage cache (default $EAMM_CACHE or ~/.cache/eamm)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the stage cache")
    p.add_argument("--no-resume", action="store_true", help="render every frame even if some are on disk")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--stage", choices=STAGE_CHOICES, default="all",
                   help="all (default): the whole job; motion: a farm's first step (prepare + motion into the cache, "
                        "OUT/job.json); render: one frame range as a farm chunk (frames only; docs/farm.md)")
    p.add_argument("--frames", type=frame_range, metavar="A-B",
                   help="frames A to B inclusive (a farm's chunk, e.g. 0-99; same as --frame-start A --frame-end B+1)")
    p.add_argument("--wait", action="store_true", help="wait while another job uses --out instead of failing")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.set_defaults(func=run)


def optional_path(text: str) -> Path | None:
    """A path argument where an empty value means "not given" (a farm template's empty optional parameter)."""
    return Path(text) if text.strip() else None


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
    strength: object = 1.0 if args.strength is None else args.strength
    curve = args.strength_curve if not isinstance(strength, Path) else strength
    if curve is not None:
        from eamm_core.curves import load_curve

        strength = load_curve(curve)
    frames = getattr(args, "frames", None)
    if frames is not None:
        args.frame_start, args.frame_end = frames
    transcript = args.transcript
    if transcript and transcript.lower().endswith(".txt"):
        path = Path(transcript)
        if not path.is_file():
            raise InputError(path, "transcript file not found", "check the path or give the text itself")
        transcript = path.read_text(encoding="utf-8").strip()
    emotion = None
    if args.emotion is not None:
        from eamm_core.presets import resolve_emotion

        emotion = resolve_emotion(args.emotion)
    return JobSpec(portrait=args.portrait, audio=args.audio, emotion=emotion, emotion_neutral=args.neutral,
                   pose=args.pose, strength=strength, engine=args.engine, model_dir=args.model_dir, seed=args.seed,
                   paste_back=args.paste_back, blink=not args.no_blink, idle_motion=args.idle_motion,
                   transcript=transcript or None, face_index=args.face_index, frame_start=args.frame_start,
                   frame_end=args.frame_end, write_mp4=not args.no_mp4, device=args.device, precision=args.precision,
                   smooth_pose=args.smooth_pose, landmarks=args.landmarks)


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
