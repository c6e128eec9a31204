"""The face resolution a job renders at (``--size``, the server's ``size``, the add-on's Resolution).

``auto`` picks the smallest of 256/512/1024 that is at least the crop's span in the photo (the
width in source pixels that the 256 crop covers), so a small portrait is not enlarged and an HD
one is not thrown away; a span above 1024 is rendered at 1024 unless 2048 is asked for (the
manifest says so). A span at most :data:`AUTO_TOLERANCE` above a size still takes that size: a
256 px picture whose crop spans 262 px loses nothing visible at 256, where 512 would only enlarge
it twofold (and cost four times the pixels). Engines that render at one size only (the neural engine: 256) enlarge their
frames to a chosen larger size with :data:`ENLARGE_FILTER` (``auto`` keeps them at their size).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eamm_core.errors import InputError

SIZES = (256, 512, 1024, 2048)
AUTO_SIZES = (256, 512, 1024)
CHOICES = ("auto",) + tuple(str(s) for s in SIZES)
#: how an engine with a fixed native size enlarges its frames: OpenCV's Lanczos (8x8 taps)
ENLARGE_FILTER = "Lanczos-4 (cv2.INTER_LANCZOS4)"
CROP = 256
#: a span this much above a size still takes that size (2-10 % fewer pixels across, not 2x more)
AUTO_TOLERANCE = 1.1


@dataclass(frozen=True)
class FrameSize:
    """``requested`` (``"auto"`` or a size), the ``size`` frames are written at, the engine's
    ``native`` size (frames rendered larger than it are enlarged), the crop's ``span`` in source
    pixels and an optional one-line ``note`` for the artist."""

    requested: str
    size: int
    native: int
    span: float
    note: str | None = None

    def manifest(self) -> dict:
        return {"requested": self.requested, "output": self.size, "engine_native": self.native,
                "crop_span_px": round(self.span, 1), "note": self.note}


def enlarge(frame: np.ndarray, size: int) -> np.ndarray:
    """A square frame enlarged to ``size`` with :data:`ENLARGE_FILTER` (unchanged if it already fits)."""
    if frame.shape[0] >= size:
        return frame
    import cv2

    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_LANCZOS4)


def parse_size(value: str | int | None) -> str:
    """``value`` as one of :data:`CHOICES` (None: auto); an :class:`InputError` otherwise."""
    text = "auto" if value is None else str(value).strip().lower()
    if text not in CHOICES:
        raise InputError(None, f"size {value!r} is not one of {', '.join(CHOICES)}",
                         "use --size auto (the default), 256, 512, 1024 or 2048", field="size")
    return text


def crop_span(source_from_crop: np.ndarray) -> float:
    """Width in source pixels that the 256 crop covers in the photo."""
    m = np.asarray(source_from_crop, np.float64)
    return float(CROP * np.sqrt(abs(np.linalg.det(m[:2, :2]))))


def resolve_size(requested: str | int | None, source_from_crop: np.ndarray, native: int | None = None) -> FrameSize:
    """The :class:`FrameSize` for a request and a crop; ``native``: the engine's only render size
    (None: it renders at any size)."""
    req = parse_size(requested)
    span = crop_span(source_from_crop)
    note = None
    if req == "auto" and native is not None:  # nothing to gain from enlarging a fixed-size engine's frames
        return FrameSize(req, native, native, span, None)
    if req == "auto":
        size = next((s for s in AUTO_SIZES if s * AUTO_TOLERANCE >= span - 0.5), AUTO_SIZES[-1])
        if span > AUTO_SIZES[-1] * AUTO_TOLERANCE + 0.5:
            note = (f"the face spans {span:.0f} px in the photo; rendered at {size} px "
                    f"(ask for size 2048 to keep all its detail)")
    else:
        size = int(req)
    if native is not None and size > native:
        extra = (f"this engine renders at {native} px (its networks' size); frames enlarged to {size} px "
                 f"with a {ENLARGE_FILTER} filter")
        note = extra if note is None else f"{note}; {extra}"
    return FrameSize(req, size, native or size, span, note)
