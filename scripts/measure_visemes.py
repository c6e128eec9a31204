"""Real speakers' lips, measured with the project's own pieces, against the landmark engine's visemes.

The engine's viseme targets (``eamm_core/engines/landmark/visemes.py``) give the inner-lip gap in
inter-ocular distances (IOD) and a mouth-width multiplier. This script measures both on real talking
clips: landmarks from the project's clip tracking (:func:`eamm_core.prepare.emotion.align_clip`, the
default landmark model), the gap as :func:`~eamm_core.engines.landmark.mouth.inner_gap` measures it
(pairs 61-67, 62-66, 63-65) over each frame's IOD minus the speaker's rest gap (the clip's 5th
percentile: an ``open`` of 0 is lips together), the width (corners 48-54) over the speaker's width
with the lips closed.

* **Opening** (any clip, no audio needed): the articulatory swing, the RMS of the opening band-passed
  to the syllable rate (:data:`BAND_HZ`) over the speaking span: a posture held for the sentence (a
  smile or disgust parting the lips; the engine leaves it to the portrait) falls below the band.
  Per speaker, the factor on every ``open`` that makes the engine's swing on speech recordings,
  times the renderer's gain on that speaker (:func:`render_gain`: how far the rendered lips part as
  dlib reads them, over the driving landmarks), equal the speaker's. Applied only when every speaker
  asks for the same direction (:func:`decide_open`).
* **Width**: one factor on every narrowing (widths below 1 and ``mouth.ROUND_NARROWING``) that puts
  the engine's 5th-percentile width (its most rounded frames) at the real speakers'.
* **Per viseme** (clips with their own speech): opening and width at each phone's middle frame (the
  frame the engine shows it on, ``LEAD_S`` early), with the engine's at the same frames. The MEAD
  clips of ``../shared/fixtures/emotion`` carry silent audio tracks (all samples zero), so the only
  clip with speech is the quality bench's held-out clip: measured here as a check, never fitted.

    .venv/bin/python scripts/measure_visemes.py [--clips A.mp4 ...] [--speech S.wav ...] [--check C.mp4]

Prints Markdown tables (docs/engine-landmark.md, "Viseme amplitudes"); run on the committed table,
the fits ask for no change.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eamm_core.engines.landmark.mouth import (
    FPS,
    LEAD_S,
    ROUND_NARROWING,
    corner_width,
    inner_gap,
    inter_ocular,
    mouth_track,
)
from eamm_core.engines.landmark.phonemes import PhoneSegments, phones_for_audio
from eamm_core.engines.landmark.visemes import VISEMES, MouthShape, viseme_of

log = logging.getLogger("measure_visemes")
SHARED = Path(os.environ.get("EAMM_SHARED", REPO.parent / "shared")) / "fixtures"
CLIPS = tuple(SHARED / "emotion" / n for n in ("disgusted.mp4", "sad.mp4", "happy.mp4"))
SPEECH = (SHARED / "audio" / "speech_7s.wav", SHARED / "audio" / "speech_11s.wav")
CHECK = SHARED / "talking" / "M030_sad_3_001.mp4"
#: syllable peaks: at least this prominent (IOD) and this many 25 fps frames apart
MIN_PROMINENCE = 0.05
MIN_PEAK_FRAMES = 3
#: the rest (closed-lip) gap: this percentile of the clip's gaps
REST_PERCENTILE = 5.0
#: the speaking span starts and ends where the lips part by more than this (IOD)
SPAN_LEVEL = 0.04
#: the syllable rate (Hz): the band of the articulatory swing
BAND_HZ = (1.5, 8.0)


@dataclass(frozen=True)
class ClipMouth:
    """A clip's mouth per 25 fps frame: ``opening`` (inner-lip gap over IOD, rest gap removed),
    ``width`` (corner-to-corner width over the rest width), ``rest_gap`` (IOD units)."""

    name: str
    opening: np.ndarray
    width: np.ndarray
    rest_gap: float


@dataclass(frozen=True)
class Articulation:
    """Syllable peaks of an opening curve: their heights and prominences (IOD units)."""

    heights: np.ndarray
    prominences: np.ndarray
    frames: int

    @property
    def rate(self) -> float:
        """Peaks per second."""
        return len(self.heights) * FPS / max(self.frames, 1)


def mouth_from_landmarks(name: str, lm: np.ndarray) -> ClipMouth:
    """Opening and width of landmarks [T,68,2] (any pixel scale: both are divided by each frame's IOD)."""
    lm = np.asarray(lm, np.float64)
    iod = np.array([inter_ocular(f) for f in lm])
    gap = inner_gap(lm) / iod
    width = np.linalg.norm(lm[:, 54] - lm[:, 48], axis=-1) / iod
    rest = float(np.percentile(gap, REST_PERCENTILE))
    opening = np.maximum(gap - rest, 0.0)
    rest_width = float(np.median(width[opening < 0.03])) if (opening < 0.03).any() else float(np.median(width))
    return ClipMouth(name, opening, width / rest_width, rest)


def clip_mouth(path: Path) -> ClipMouth:
    """Track a talking clip with the project's clip tracking (default landmark model) and measure it."""
    from eamm_core.prepare.emotion import align_clip

    _, lm, _, warnings = align_clip(path, None)
    for w in warnings:
        log.warning("%s", w)
    return mouth_from_landmarks(path.name, lm)


def articulation(opening: np.ndarray) -> Articulation:
    """Syllable peaks of an opening curve [T] (IOD units)."""
    from scipy.signal import find_peaks

    x = np.asarray(opening, np.float64)
    peaks, props = find_peaks(x, distance=MIN_PEAK_FRAMES, prominence=MIN_PROMINENCE)
    return Articulation(x[peaks], props["prominences"], len(x))


def phone_frames(phones: PhoneSegments, num_frames: int) -> list[tuple[str, int]]:
    """(viseme, frame) of every spoken phone: the frame the engine shows its middle on."""
    out = []
    for label, a, b in zip(phones.labels, phones.starts, phones.ends):
        vis = viseme_of(label)
        k = int(np.floor(((a + b) / 2.0 - LEAD_S) * FPS))
        if vis not in ("sil", "HH") and 0 <= k < num_frames:
            out.append((vis, k))
    return out


def per_viseme(opening: np.ndarray, picks: list[tuple[str, int]]) -> dict[str, np.ndarray]:
    """The opening at each phone's middle frame, grouped by viseme."""
    out: dict[str, list[float]] = {}
    for vis, k in picks:
        out.setdefault(vis, []).append(float(opening[k]))
    return {v: np.asarray(x) for v, x in out.items()}


def _detect_all(frames) -> np.ndarray:
    """dlib's 68 points on each 256 crop, the quality bench's way (``crop_landmarks``: a miss reuses
    the previous box)."""
    sys.path.insert(0, str(REPO / "bench"))
    from quality_helpers import crop_landmarks

    lm = crop_landmarks(frames)
    if np.isnan(lm).any():
        raise RuntimeError("no face in the first crop frames")
    return lm


def render_gain(path: Path) -> float:
    """How much further the landmark renderer's lips part, as dlib reads them, than the landmarks that
    drive it: the clip's most closed frame of its first second is the portrait, the renderer is driven
    by the clip's own landmarks (in that portrait's crop, as bench/quality.py's upper-bound row) and the
    mean inner-lip gap (clipped at 0) read on its frames is divided by the mean read on the real ones."""
    import tempfile

    import cv2

    from eamm_core.engines.landmark.render import LandmarkRenderer
    from eamm_core.prepare.faces import warp_to_crop
    from eamm_core.prepare.portrait import load_portrait
    from eamm_core.prepare.video import read_frames

    frames = read_frames(path, FPS).frames
    k = int(np.argmin(inner_gap(_detect_all(frames[: int(FPS)]))))
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "source.png"
        cv2.imwrite(str(png), cv2.cvtColor(frames[k], cv2.COLOR_RGB2BGR))
        crop = load_portrait(png)
    real_lm = _detect_all([warp_to_crop(f, crop.crop_from_source) for f in frames[k:]])
    rendered = LandmarkRenderer(crop, size=256).render_many(real_lm.astype(np.float32))
    out_lm = _detect_all(np.asarray(f) for f in rendered)
    return float(np.maximum(inner_gap(out_lm), 0).mean() / np.maximum(inner_gap(real_lm), 0).mean())


def speaking_span(opening: np.ndarray) -> np.ndarray:
    """The opening from the first to the last frame where the lips part by more than :data:`SPAN_LEVEL`."""
    x = np.asarray(opening, np.float64)
    on = np.flatnonzero(x > SPAN_LEVEL)
    return x[on[0]:on[-1] + 1] if on.size else x


def swing(opening: np.ndarray) -> float:
    """Articulatory swing (IOD units): RMS of the opening band-passed to the syllable rate
    (:data:`BAND_HZ`) over the speaking span; a posture held for the sentence falls below the band."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, BAND_HZ, btype="band", fs=FPS, output="sos")
    return float(np.sqrt(np.mean(sosfiltfilt(sos, speaking_span(opening)) ** 2)))


@dataclass(frozen=True)
class Targets:
    """The engine's viseme table and its rounding narrowing (``mouth.ROUND_NARROWING``)."""

    visemes: dict[str, MouthShape]
    narrowing: float

    @classmethod
    def current(cls) -> Targets:
        return cls(dict(VISEMES), ROUND_NARROWING)

    def with_open(self, scale: float) -> Targets:
        """Every ``open`` multiplied by ``scale``."""
        return Targets({k: replace(v, open=v.open * scale) for k, v in self.visemes.items()}, self.narrowing)

    def with_narrowing(self, a: float) -> Targets:
        """Every narrowing multiplied by ``a``: widths below 1 move to 1 - a (1 - width), and the
        rounding narrowing to ``a`` times itself (widths above 1 are kept)."""
        table = {k: replace(v, width=1.0 - a * (1.0 - v.width)) if v.width < 1.0 else v
                 for k, v in self.visemes.items()}
        return Targets(table, self.narrowing * a)


@dataclass(frozen=True)
class Speech:
    """A speech recording as the engine reads it: phones, per-frame loudness, frame count."""

    name: str
    phones: PhoneSegments
    loudness: np.ndarray
    num_frames: int


def load_speech(path: Path) -> Speech:
    from eamm_core.prepare.audio import load_audio

    audio = load_audio(path)
    return Speech(path.name, phones_for_audio(audio.samples), audio.loudness, audio.num_frames)


def engine_mouth(speech: Speech, targets: Targets) -> tuple[np.ndarray, np.ndarray]:
    """The engine's per-frame ``open`` (IOD units) and corner-width multiplier for a speech."""
    track = mouth_track(speech.phones, speech.loudness, speech.num_frames, targets.visemes)
    return track.open, corner_width(track, targets.narrowing)


@dataclass(frozen=True)
class Speaker:
    """One real clip's measures: its mouth, articulatory swing and the renderer's gain on it."""

    mouth: ClipMouth
    swing: float
    render_gain: float


def measure_speaker(path: Path) -> Speaker:
    m = clip_mouth(path)
    return Speaker(m, swing(m.opening), render_gain(path))


def open_scales(speakers: list[Speaker], speech: list[Speech], targets: Targets) -> list[float]:
    """Per real speaker, the factor on every ``open`` that makes the engine's swing, as the renderer
    and the detector turn it into pixels (the speaker's renderer gain), equal that speaker's swing."""
    engine = float(np.mean([swing(engine_mouth(s, targets)[0]) for s in speech]))
    return [sp.swing / (engine * sp.render_gain) for sp in speakers]


def decide_open(scales: list[float]) -> float:
    """The ``open`` factor to apply: the geometric mean of the speakers' factors when they all ask
    for the same direction, else 1 (the speakers disagree: the data cannot set the scale)."""
    s = np.asarray(scales)
    return float(np.exp(np.log(s).mean())) if (s > 1).all() or (s < 1).all() else 1.0


def fit_narrowing(speakers: list[Speaker], speech: list[Speech], targets: Targets, rounds: int = 8) -> float:
    """The factor ``a`` on every narrowing (:meth:`Targets.with_narrowing`) that puts the engine's
    5th-percentile width (its most rounded frames) at the real speakers' (mean of the speakers)."""
    goal = 1.0 - float(np.mean([np.percentile(sp.mouth.width, 5) for sp in speakers]))
    a = 1.0
    for _ in range(rounds):
        got = 1.0 - float(np.mean([np.percentile(engine_mouth(s, targets.with_narrowing(a))[1], 5) for s in speech]))
        a *= goal / got
    return a


def _pct(x: np.ndarray, qs=(5, 50, 95)) -> str:
    return " / ".join(f"{v:.2f}" for v in np.percentile(x, qs))


def _peaks(x: np.ndarray) -> str:
    a = articulation(x)
    if not len(a.heights):
        return "0 | – | –"
    return f"{a.rate:.1f}/s | {np.median(a.heights):.3f} | {np.median(a.prominences):.3f}"


def speakers_table(speakers: list[Speaker], scales: list[float]) -> list[str]:
    lines = ["| real clip | frames | rest gap | syllable peaks | peak height | prominence | swing | renderer gain "
             "| open factor | width × 5th / 50th / 95th pct |", "|---|---|---|---|---|---|---|---|---|---|"]
    for sp, k in zip(speakers, scales):
        m = sp.mouth
        lines.append(f"| `{m.name}` | {len(m.opening)} | {m.rest_gap:.3f} | {_peaks(m.opening)} | {sp.swing:.3f} | "
                     f"{sp.render_gain:.2f} | {k:.2f} | {_pct(m.width)} |")
    return lines


def engine_table(speech: list[Speech], variants: dict[str, Targets]) -> list[str]:
    lines = ["| engine, speech | targets | syllable peaks | peak height | prominence | swing | "
             "width × 5th / 50th / 95th pct |", "|---|---|---|---|---|---|---|"]
    for s in speech:
        for label, t in variants.items():
            o, w = engine_mouth(s, t)
            lines.append(f"| `{s.name}` | {label} | {_peaks(o)} | {swing(o):.3f} | {_pct(w)} |")
    return lines


def viseme_table(check: ClipMouth, speech: Speech, variants: dict[str, Targets]) -> list[str]:
    """Per viseme on a clip with its own speech: the real opening and width at the phones' middle
    frames, and the engine's at the same frames (median; n phones)."""
    n = min(len(check.opening), speech.num_frames)
    picks = phone_frames(speech.phones, n)
    cols = [("real", per_viseme(check.opening[:n], picks), per_viseme(check.width[:n], picks))]
    for label, t in variants.items():
        o, w = engine_mouth(speech, t)
        cols.append((f"engine, {label}", per_viseme(o[:n], picks), per_viseme(w[:n], picks)))
    head = " | ".join(f"{c[0]} open | {c[0]} width ×" for c in cols)
    lines = [f"| viseme | n | {head} |", "|---|---|" + "---|---|" * len(cols)]
    order = sorted(cols[0][1], key=lambda v: -np.median(cols[0][1][v]))
    for vis in order:
        cells = " | ".join(f"{np.median(o[vis]):.3f} | {np.median(w[vis]):.2f}" for _, o, w in cols)
        lines.append(f"| {vis} | {len(cols[0][1][vis])} | {cells} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=Path, nargs="+", default=list(CLIPS), help="real talking clips (video only)")
    ap.add_argument("--speech", type=Path, nargs="+", default=list(SPEECH), help="speech recordings for the engine")
    ap.add_argument("--check", type=Path, default=CHECK, help="a clip with its own speech: per-viseme check")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    speakers = [measure_speaker(p) for p in args.clips]
    speech = [load_speech(p) for p in args.speech]
    now = Targets.current()
    scales = open_scales(speakers, speech, now)
    k_open = decide_open(scales)
    a = fit_narrowing(speakers, speech, now)
    fitted = now.with_narrowing(a).with_open(k_open)
    variants = {"current": now, "fitted": fitted}
    out = [f"open factor per speaker: {', '.join(f'{k:.2f}' for k in scales)} -> applied: {k_open:.3f}",
           f"narrowing factor: {a:.3f} -> rounding narrowing {fitted.narrowing:.3f}",
           "fitted targets (open, width): " + ", ".join(f"{k} {v.open:.3f} {v.width:.3f}"
                                                    for k, v in fitted.visemes.items()), ""]
    out += speakers_table(speakers, scales) + [""] + engine_table(speech, variants) + [""]
    if args.check and args.check.exists():
        check = clip_mouth(args.check)
        out += [f"Per viseme on `{args.check.name}` (held out: a check, not used above; rest gap "
                f"{check.rest_gap:.3f}):", ""]
        out += viseme_table(check, load_speech(args.check), variants)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
