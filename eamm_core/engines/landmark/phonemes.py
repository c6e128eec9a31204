"""Speech -> timed ARPAbet phones with pocketsphinx (its bundled en-us model, no downloads).

Two ways, both pure functions of (samples, transcript) so the pipeline can cache the result:

* phone recognition (no transcript): pocketsphinx's ``allphone`` search with the bundled en-us
  phone language model, ``bestpath=False`` for a phone-level segmentation. Any language still
  yields phones -- the closest English ones -- so the jaw follows the syllables of other languages;
* forced alignment (``transcript`` given): the words are aligned to the audio with the bundled
  dictionary and the phone segmentation of the alignment is returned. Words missing from the
  dictionary fall back to phone recognition for the whole audio; a segment whose words do not fit
  its audio falls back to recognition for that segment. Every fallback is announced: a logged
  warning and a line in :attr:`PhoneSegments.warnings` (the job's warnings).

Long speech is decoded as separate utterances of at most :data:`UTT_MAX_S` seconds, cut at the
quietest 100 ms between :data:`UTT_MIN_S` and :data:`UTT_MAX_S` (a pause, in speech): memory stays
bounded, each call into pocketsphinx takes well under a second, and the job's cancel flag
(:mod:`eamm_core.cancel`) and Ctrl-C are honoured between utterances. Audio shorter than
:data:`UTT_MAX_S` is one utterance, as before. For alignment the transcript's words are shared out
over the utterances in proportion to their voiced time (by the words' phone counts).

pocketsphinx works at 100 frames a second; times here are seconds.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eamm_core.cancel import check_cancelled

log = logging.getLogger(__name__)

PS_FRAME_S = 0.01
SAMPLE_RATE = 16000
FRAME_SAMPLES = 160
#: longest utterance decoded in one call (the 6.8 s sample stays whole) and the shortest cut off
UTT_MAX_S, UTT_MIN_S = 8.0, 4.0
#: a 10 ms frame counts as voiced above this fraction of the loud (95th percentile) frames' RMS
VOICED_LEVEL = 0.1


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
    def from_arrays(cls, d) -> PhoneSegments:
        return cls(tuple(str(x) for x in d["labels"]), np.asarray(d["starts"], np.float64),
                   np.asarray(d["ends"], np.float64), str(d["method"]), tuple(str(w) for w in d["warnings"]))


def _model_dir() -> Path:
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us"


def _gain(samples: np.ndarray) -> float:
    """Quiet recordings are normalised (peak 0.5) so the acoustic model sees speech levels; one gain
    for the whole recording."""
    x = np.asarray(samples)
    peak = min(float(max(x.max(), -x.min())), 1.0) if x.size else 0.0
    return 0.5 / peak if 0.0 < peak < 0.25 else 1.0


def _pcm16(samples: np.ndarray, gain: float | None = None) -> bytes:
    x = np.clip(np.asarray(samples, np.float64), -1.0, 1.0)
    gain = _gain(x) if gain is None else gain
    if gain != 1.0:
        x = x * gain
    return (x * 32767.0).astype("<i2").tobytes()


def frame_rms(samples: np.ndarray) -> np.ndarray:
    """RMS of each 10 ms frame [len // 160] float32, computed in blocks."""
    x = np.asarray(samples, np.float32)
    n = len(x) // FRAME_SAMPLES
    out = np.empty(n, np.float32)
    block = 60000
    for f0 in range(0, n, block):
        f1 = min(n, f0 + block)
        part = x[f0 * FRAME_SAMPLES:f1 * FRAME_SAMPLES].reshape(f1 - f0, FRAME_SAMPLES)
        out[f0:f1] = np.sqrt(np.einsum("ij,ij->i", part, part) / FRAME_SAMPLES)
    return out


def utterances(samples: np.ndarray, max_s: float = UTT_MAX_S, min_s: float = UTT_MIN_S) -> list[tuple[int, int]]:
    """Sample ranges [a, b) covering ``samples``, each at most ``max_s`` long, cut on 10 ms frame
    boundaries at the quietest 100 ms between ``min_s`` and ``max_s`` into the utterance."""
    n = len(samples)
    max_f, min_f = int(max_s * 100), int(min_s * 100)
    if n <= max_f * FRAME_SAMPLES:
        return [(0, n)]
    rms = frame_rms(samples)
    smooth = np.convolve(rms, np.ones(10, np.float32) / 10, mode="same")
    bounds, start = [], 0
    while n - start * FRAME_SAMPLES > max_f * FRAME_SAMPLES:
        lo, hi = start + min_f, start + max_f
        cut = lo + int(np.argmin(smooth[lo:hi]))
        bounds.append((start * FRAME_SAMPLES, cut * FRAME_SAMPLES))
        start = cut
    bounds.append((start * FRAME_SAMPLES, n))
    return bounds


def _clean(label: str) -> str:
    label = re.sub(r"[0-9]", "", label.upper())
    if label in ("SIL", "<SIL>", "<S>", "</S>", "") or label.startswith("+") or label.startswith("["):
        return "SIL"
    return label


class _Collector:
    """Phones of successive utterances (times in 10 ms frames), shifted to the recording's time."""

    def __init__(self):
        self.labels: list[str] = []
        self.starts: list[float] = []
        self.ends: list[float] = []

    def add(self, labels, starts, ends, offset_samples: int) -> None:
        offset = offset_samples // FRAME_SAMPLES
        self.labels += labels
        self.starts += [(offset + f) * PS_FRAME_S for f in starts]
        self.ends += [(offset + f) * PS_FRAME_S for f in ends]

    def result(self, method: str, warnings: tuple[str, ...] = ()) -> PhoneSegments:
        return PhoneSegments(tuple(self.labels), np.array(self.starts, np.float64),
                             np.array(self.ends, np.float64), method, warnings)


def _allphone_decoder():
    from pocketsphinx import Decoder

    model = _model_dir()
    return Decoder(hmm=str(model / "en-us"), allphone=str(model / "en-us-phone.lm.bin"),
                   bestpath=False, lw=2.0, beam=1e-20, pbeam=1e-20, loglevel="FATAL")


def _recognise_utterance(dec, pcm: bytes) -> tuple[list[str], list[int], list[int]]:
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    labels, starts, ends = [], [], []
    for seg in dec.seg():
        labels.append(_clean(seg.word))
        starts.append(seg.start_frame)
        ends.append(seg.end_frame + 1)
    return labels, starts, ends


def recognise_phones(samples: np.ndarray) -> PhoneSegments:
    """Phone recognition (allphone search) on mono 16 kHz ``samples``, utterance by utterance."""
    dec, gain, out = _allphone_decoder(), _gain(samples), _Collector()
    for a, b in utterances(samples):
        check_cancelled()
        out.add(*_recognise_utterance(dec, _pcm16(samples[a:b], gain)), a)
    check_cancelled()
    return out.result("recognition")


def _words(transcript: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9']+", transcript.lower()) if w]


def share_words(words: list[str], phone_counts: list[int], voiced: list[int]) -> list[list[str]]:
    """Words for each utterance: cut where the words' cumulative phone count best matches the
    utterances' cumulative voiced time (both as fractions of their totals)."""
    if len(voiced) == 1:
        return [list(words)]
    cum_p = np.cumsum(phone_counts) / max(sum(phone_counts), 1)
    cum_v = np.cumsum(voiced)[:-1] / max(sum(voiced), 1)
    cuts = [0] + [int(np.argmin(np.abs(np.concatenate([[0.0], cum_p]) - f))) for f in cum_v] + [len(words)]
    cuts = np.maximum.accumulate(cuts)
    return [list(words[cuts[i]:cuts[i + 1]]) for i in range(len(voiced))]


def align_phones(samples: np.ndarray, transcript: str) -> PhoneSegments:
    """Forced alignment of ``transcript`` (English words) to ``samples``, utterance by utterance;
    falls back to phone recognition, announced, where that is impossible (module docstring)."""
    from pocketsphinx import Decoder

    words = _words(transcript)
    dec = Decoder(loglevel="FATAL")
    pron = [dec.lookup_word(w) for w in words]
    missing = [w for w, p in zip(words, pron) if p is None]
    problem = None
    if not words:
        problem = "the transcript has no words"
    elif missing:
        problem = f"words not in the pronunciation dictionary: {', '.join(missing[:5])}"
    if problem is not None:
        return _fallback(samples, f"transcript not used, lip sync from phone recognition instead: {problem}")
    bounds = utterances(samples)
    rms = frame_rms(samples)
    level = VOICED_LEVEL * (float(np.percentile(rms, 95)) if rms.size else 0.0)
    voiced = [int((rms[a // FRAME_SAMPLES:b // FRAME_SAMPLES] > level).sum()) for a, b in bounds]
    pieces = share_words(words, [len(p.split()) for p in pron], voiced)
    return _align_pieces(dec, samples, bounds, pieces, voiced)


def _align_pieces(dec, samples, bounds, pieces, voiced) -> PhoneSegments:
    gain, out, failed, reason = _gain(samples), _Collector(), [], ""
    recogniser = None
    for (a, b), piece, vo in zip(bounds, pieces, voiced):
        check_cancelled()
        pcm = _pcm16(samples[a:b], gain)
        try:
            if not piece:
                raise RuntimeError("no words left for this part" if vo else "silent")
            out.add(*_align(dec, pcm, piece), a)
            continue
        except RuntimeError as exc:
            if vo:
                failed.append((a, b))
                reason = reason or str(exc)
        recogniser = recogniser or _allphone_decoder()
        out.add(*_recognise_utterance(recogniser, pcm), a)
    check_cancelled()
    if not failed:
        return out.result("alignment")
    spans = ", ".join(f"{a / SAMPLE_RATE:.1f}-{b / SAMPLE_RATE:.1f} s" for a, b in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    scope = "anywhere" if len(failed) == len(bounds) else f"for {spans}{more}"
    warning = (f"transcript not used {scope}, lip sync from phone recognition instead: "
               f"the transcript does not fit the audio ({reason})")
    log.warning(warning)
    method = "recognition" if len(failed) == len(bounds) else "alignment"
    return out.result(method, (warning,))


def _fallback(samples: np.ndarray, warning: str) -> PhoneSegments:
    log.warning(warning)
    rec = recognise_phones(samples)
    return PhoneSegments(rec.labels, rec.starts, rec.ends, rec.method, rec.warnings + (warning,))


def _align(dec, pcm: bytes, words: list[str]) -> tuple[list[str], list[int], list[int]]:
    """Align ``words`` to one utterance's PCM; RuntimeError unless every word is aligned."""
    dec.set_align_text(" ".join(words))
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    dec.set_alignment()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    alignment = dec.get_alignment()
    if alignment is None:
        raise RuntimeError("no alignment")
    labels, starts, ends, aligned = [], [], [], 0
    for word in alignment:
        if not _clean(word.name) == "SIL" and not word.name.startswith("<"):
            aligned += 1
        for phone in word:
            labels.append(_clean(phone.name))
            starts.append(phone.start)
            ends.append(phone.start + phone.duration)
    if aligned != len(words):
        raise RuntimeError(f"{aligned} of {len(words)} words aligned")
    return labels, starts, ends


def phones_for_audio(samples: np.ndarray, transcript: str | None = None) -> PhoneSegments:
    """The engine's entry point: alignment when a transcript is given, else recognition."""
    if transcript and transcript.strip():
        return align_phones(samples, transcript)
    return recognise_phones(samples)
