"""ARPAbet phones -> visemes -> mouth-shape targets.

The 15-class viseme set used by game lip-sync middleware (sil, PP, FF, TH, DD, kk, CH, SS, nn,
RR, aa, E, ih, oh, ou). Each viseme is a target :class:`MouthShape` in the face's own scale
(inter-ocular distance, "IOD") and a dominance (how strongly it resists its neighbours in the
coarticulation blend: bilabials and labiodentals must be reached, K/G/N/T/D borrow their lips
from the vowels around them).

The opening amplitudes, rounding and dominances are ours, set by eye on the fixture portraits; the
narrowing (widths below 1, with ``mouth.ROUND_NARROWING``) is set from scripts/measure_visemes.py
on three MEAD speakers, which also finds no consistent reason to change the openings (see
docs/engine-landmark.md, "Viseme amplitudes").
"""

from __future__ import annotations

from dataclasses import dataclass

PHONE_TO_VISEME: dict[str, str] = {
    "SIL": "sil",
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD",
    "K": "kk", "G": "kk", "NG": "kk",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH",
    "S": "SS", "Z": "SS",
    "N": "nn", "L": "nn",
    "R": "RR", "ER": "RR",
    "AA": "aa", "AH": "aa", "AY": "aa", "AW": "aa",
    "EH": "E", "EY": "E", "AE": "E",
    "IH": "ih", "IY": "ih", "Y": "ih",
    "AO": "oh", "OW": "oh", "OY": "oh",
    "UW": "ou", "UH": "ou", "W": "ou",
    "HH": "HH",  # takes the shape of its neighbour (resolved in mouth.py)
}


@dataclass(frozen=True)
class MouthShape:
    """One mouth target. ``open``: inner-lip gap (IOD units); ``width``: mouth-width multiplier;
    ``round``: 0-1 lip rounding (narrower, pouted); ``raise_``: upper-lip raise (IOD units, shows
    the upper teeth); ``tuck``: 0-1 lower lip drawn up onto the upper teeth (F, V);
    ``dominance``: blend weight against neighbours; ``closed``: lips must meet (P, B, M)."""

    open: float
    width: float = 1.0
    round: float = 0.0
    raise_: float = 0.0
    tuck: float = 0.0
    dominance: float = 1.0
    closed: bool = False


VISEMES: dict[str, MouthShape] = {
    "sil": MouthShape(0.0, 1.0, 0.0, 0.0, 0.0, dominance=0.6),
    "PP": MouthShape(0.0, 0.992, 0.0, 0.0, 0.0, dominance=6.0, closed=True),
    "FF": MouthShape(0.03, 0.994, 0.0, 0.03, 1.0, dominance=4.0),
    "TH": MouthShape(0.10, 1.0, 0.0, 0.02, 0.0, dominance=1.5),
    "DD": MouthShape(0.12, 1.02, 0.0, 0.02, 0.0, dominance=0.7),
    "kk": MouthShape(0.14, 1.0, 0.0, 0.01, 0.0, dominance=0.5),
    "CH": MouthShape(0.09, 0.966, 0.55, 0.03, 0.0, dominance=2.0),
    "SS": MouthShape(0.06, 1.06, 0.0, 0.02, 0.0, dominance=1.5),
    "nn": MouthShape(0.10, 1.0, 0.0, 0.01, 0.0, dominance=0.6),
    "RR": MouthShape(0.11, 0.972, 0.45, 0.01, 0.0, dominance=1.2),
    "aa": MouthShape(0.28, 1.03, 0.0, 0.03, 0.0, dominance=1.0),
    "E": MouthShape(0.20, 1.08, 0.0, 0.03, 0.0, dominance=1.0),
    "ih": MouthShape(0.14, 1.10, 0.0, 0.02, 0.0, dominance=1.0),
    "oh": MouthShape(0.23, 0.961, 0.7, 0.01, 0.0, dominance=1.2),
    "ou": MouthShape(0.12, 0.944, 1.0, 0.0, 0.0, dominance=1.5),
}
VISEME_NAMES = tuple(VISEMES)
#: the rest shape in silence: lips closed, jaw relaxed
REST = VISEMES["sil"]


def viseme_of(phone: str) -> str:
    """Viseme class of an ARPAbet phone (stress digits ignored); unknown phones count as ``nn``
    (a neutral, half-open consonant) and ``HH`` as itself (resolved by its neighbours)."""
    p = "".join(c for c in phone.upper() if c.isalpha())
    return PHONE_TO_VISEME.get(p, "nn")
