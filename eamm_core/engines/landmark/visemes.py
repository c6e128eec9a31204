"""ARPAbet phones -> visemes -> mouth-shape targets.

The 15-class viseme set used by game lip-sync middleware (sil, PP, FF, TH, DD, kk, CH, SS, nn,
RR, aa, E, ih, oh, ou). Each viseme is a target :class:`MouthShape` in the face's own scale
(inter-ocular distance, "IOD") and a dominance (how strongly it resists its neighbours in the
coarticulation blend: bilabials and labiodentals must be reached, K/G/N/T/D borrow their lips
from the vowels around them).

The vowel openings are published articulatory data: the vertical lip distance of the vowel shapes of
VocalTractLab's JD2 speaker (Birkholz 2013, shapes fitted to MRI of one speaker), over a mean adult
interpupillary distance (see :data:`VOWEL_LIP_DISTANCE_CM`). No per-consonant figure that includes
the jaw was reachable, so the consonants keep the proportion to the vowels they had in the table set
by eye. Rounding and dominances are ours; the narrowing (widths below 1, with
``mouth.ROUND_NARROWING``) is set from scripts/measure_visemes.py on three MEAD speakers (see
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


#: vertical lip distance (cm) of the JD2 speaker's vowel shapes in VocalTractLab 2.3 (parameter LD
#: of the shapes "a", "E", "e", "E:", "I", "i", "O", "o", "u", "U"), per viseme: its ARPAbet vowels'
#: nearest German vowels (AA AH AY AW [a]; EH [E], EY [e], AE [E:]; IH [I], IY Y [i]; AO OY [O],
#: OW [o]; UW W [u], UH [U])
VOWEL_LIP_DISTANCE_CM: dict[str, tuple[float, ...]] = {
    "aa": (0.9937,),
    "E": (0.9761, 0.8441, 0.9343),
    "ih": (0.8536, 0.9251),
    "oh": (0.5159, 0.2607),
    "ou": (0.3446, 0.3357),
}
#: mean adult interpupillary distance (cm, Dodgson 2004): the IOD unit of the shapes
IPD_CM = 6.3
#: the table set by eye before: its consonant openings keep their proportion to its vowels
_BY_EYE_VOWELS = {"aa": 0.28, "E": 0.20, "ih": 0.14}


def _vowel_open(viseme: str) -> float:
    cm = VOWEL_LIP_DISTANCE_CM[viseme]
    return round(sum(cm) / len(cm) / IPD_CM, 3)


_V = {v: _vowel_open(v) for v in VOWEL_LIP_DISTANCE_CM}
#: consonant openings: the by-eye ones times the ratio of the open vowels' means (new / by eye)
CONSONANT_SCALE = (_V["aa"] + _V["E"] + _V["ih"]) / sum(_BY_EYE_VOWELS.values())


def _cons(by_eye: float) -> float:
    return round(by_eye * CONSONANT_SCALE, 3)


VISEMES: dict[str, MouthShape] = {
    "sil": MouthShape(0.0, 1.0, 0.0, 0.0, 0.0, dominance=0.6),
    "PP": MouthShape(0.0, 0.992, 0.0, 0.0, 0.0, dominance=6.0, closed=True),
    "FF": MouthShape(_cons(0.03), 0.994, 0.0, 0.03, 1.0, dominance=4.0),
    "TH": MouthShape(_cons(0.10), 1.0, 0.0, 0.02, 0.0, dominance=1.5),
    "DD": MouthShape(_cons(0.12), 1.02, 0.0, 0.02, 0.0, dominance=0.7),
    "kk": MouthShape(_cons(0.14), 1.0, 0.0, 0.01, 0.0, dominance=0.5),
    "CH": MouthShape(_cons(0.09), 0.966, 0.55, 0.03, 0.0, dominance=2.0),
    "SS": MouthShape(_cons(0.06), 1.06, 0.0, 0.02, 0.0, dominance=1.5),
    "nn": MouthShape(_cons(0.10), 1.0, 0.0, 0.01, 0.0, dominance=0.6),
    "RR": MouthShape(_cons(0.11), 0.972, 0.45, 0.01, 0.0, dominance=1.2),
    "aa": MouthShape(_V["aa"], 1.03, 0.0, 0.03, 0.0, dominance=1.0),
    "E": MouthShape(_V["E"], 1.08, 0.0, 0.03, 0.0, dominance=1.0),
    "ih": MouthShape(_V["ih"], 1.10, 0.0, 0.02, 0.0, dominance=1.0),
    "oh": MouthShape(_V["oh"], 0.961, 0.7, 0.01, 0.0, dominance=1.2),
    "ou": MouthShape(_V["ou"], 0.944, 1.0, 0.0, 0.0, dominance=1.5),
}
VISEME_NAMES = tuple(VISEMES)
#: the rest shape in silence: lips closed, jaw relaxed
REST = VISEMES["sil"]


def viseme_of(phone: str) -> str:
    """Viseme class of an ARPAbet phone (stress digits ignored); unknown phones count as ``nn``
    (a neutral, half-open consonant) and ``HH`` as itself (resolved by its neighbours)."""
    p = "".join(c for c in phone.upper() if c.isalpha())
    return PHONE_TO_VISEME.get(p, "nn")
