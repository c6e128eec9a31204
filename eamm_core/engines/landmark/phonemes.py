"""Speech -> timed ARPAbet phones with pocketsphinx (its bundled en-us model, no downloads).

Two ways, both pure functions of (samples, transcript) so the pipeline can cache the result:

* phone recognition (no transcript): pocketsphinx's ``allphone`` search with the bundled en-us
  phone language model, ``bestpath=False`` for a phone-level segmentation. Any language still
  yields phones -- the closest English ones -- so the jaw follows the syllables of other languages;
* forced alignment (``transcript`` given): the words are aligned to the audio with the bundled
  dictionary and the phone segmentation of the alignment is returned. Words missing from the
  dictionary, or a transcript that does not fit the audio, fall back to phone recognition (with a
  warning in :attr:`PhoneSegments.warnings`).

pocketsphinx works at 100 frames a second; times here are seconds.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PS_FRAME_S = 0.01
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class PhoneSegments:
    """Timed phones: ``labels`` (ARPAbet, stress removed, ``SIL`` for silence/noise), ``starts`` and
    ``ends`` in seconds (float64 [n]); ``method`` is ``"alignment"`` or ``"recognition"``."""

    labels: tuple[str, ...]
    starts: np.ndarray
    ends: np.ndarray
    method: str
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for caching (``np.savez``); see :meth:`from_arrays`."""
        return {"labels": np.array(self.labels, dtype="U4"), "starts": self.starts, "ends": self.ends,
                "method": np.array(self.method), "warnings": np.array(self.warnings, dtype="U300")}

    @classmethod
    def from_arrays(cls, d) -> "PhoneSegments":
        return cls(tuple(str(x) for x in d["labels"]), np.asarray(d["starts"], np.float64),
                   np.asarray(d["ends"], np.float64), str(d["method"]), tuple(str(w) for w in d["warnings"]))


def _model_dir() -> Path:
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us"


def _pcm16(samples: np.ndarray) -> bytes:
    x = np.clip(np.asarray(samples, np.float64), -1.0, 1.0)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if 0.0 < peak < 0.25:  # quiet recordings: normalise so the acoustic model sees speech levels
        x = x * (0.5 / peak)
    return (x * 32767.0).astype("<i2").tobytes()


def _clean(label: str) -> str:
    label = re.sub(r"[0-9]", "", label.upper())
    if label in ("SIL", "<SIL>", "<S>", "</S>", "") or label.startswith("+") or label.startswith("["):
        return "SIL"
    return label


def recognise_phones(samples: np.ndarray) -> PhoneSegments:
    """Phone recognition (allphone search) on mono 16 kHz ``samples``."""
    from pocketsphinx import Decoder

    model = _model_dir()
    dec = Decoder(hmm=str(model / "en-us"), allphone=str(model / "en-us-phone.lm.bin"),
                  bestpath=False, lw=2.0, beam=1e-20, pbeam=1e-20, loglevel="FATAL")
    dec.start_utt()
    dec.process_raw(_pcm16(samples), full_utt=True)
    dec.end_utt()
    labels, starts, ends = [], [], []
    for seg in dec.seg():
        labels.append(_clean(seg.word))
        starts.append(seg.start_frame * PS_FRAME_S)
        ends.append((seg.end_frame + 1) * PS_FRAME_S)
    return PhoneSegments(tuple(labels), np.array(starts), np.array(ends), "recognition")


def _words(transcript: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9']+", transcript.lower()) if w]


def align_phones(samples: np.ndarray, transcript: str) -> PhoneSegments:
    """Forced alignment of ``transcript`` (English words) to ``samples``; falls back to
    :func:`recognise_phones` with a warning when that is impossible."""
    from pocketsphinx import Decoder

    words = _words(transcript)
    dec = Decoder(loglevel="FATAL")
    missing = [w for w in words if dec.lookup_word(w) is None]
    problem = None
    if not words:
        problem = "the transcript has no words"
    elif missing:
        problem = f"words not in the pronunciation dictionary: {', '.join(missing[:5])}"
    if problem is None:
        try:
            return _align(dec, samples, " ".join(words))
        except RuntimeError as exc:
            problem = f"the transcript does not fit the audio ({exc})"
    warning = f"transcript not used, lip sync from phone recognition instead: {problem}"
    log.warning(warning)
    rec = recognise_phones(samples)
    return PhoneSegments(rec.labels, rec.starts, rec.ends, rec.method, rec.warnings + (warning,))


def _align(dec, samples: np.ndarray, text: str) -> PhoneSegments:
    pcm = _pcm16(samples)
    dec.set_align_text(text)
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    dec.set_alignment()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    labels, starts, ends = [], [], []
    alignment = dec.get_alignment()
    if alignment is None:
        raise RuntimeError("no alignment")
    for word in alignment:
        for phone in word:
            labels.append(_clean(phone.name))
            starts.append(phone.start * PS_FRAME_S)
            ends.append((phone.start + phone.duration) * PS_FRAME_S)
    if not labels:
        raise RuntimeError("empty alignment")
    return PhoneSegments(tuple(labels), np.array(starts), np.array(ends), "alignment")


def phones_for_audio(samples: np.ndarray, transcript: str | None = None) -> PhoneSegments:
    """The engine's entry point: alignment when a transcript is given, else recognition."""
    if transcript and transcript.strip():
        return align_phones(samples, transcript)
    return recognise_phones(samples)
