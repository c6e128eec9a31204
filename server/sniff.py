"""Recognise an upload by its first bytes (never by its name).

:func:`sniff` returns the kind (``image``, ``audio``, ``video``, ``preset``, ``pose``) and the file
extension the server stores it under, or ``None`` when the bytes are none of the accepted formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Sniffed:
    kind: str
    ext: str


_PREFIXES = (
    (b"\x89PNG\r\n\x1a\n", Sniffed("image", "png")),
    (b"\xff\xd8\xff", Sniffed("image", "jpg")),
    (b"II*\x00", Sniffed("image", "tif")),
    (b"MM\x00*", Sniffed("image", "tif")),
    (b"fLaC", Sniffed("audio", "flac")),
    (b"OggS", Sniffed("audio", "ogg")),
    (b"ID3", Sniffed("audio", "mp3")),
    (b"\x1a\x45\xdf\xa3", Sniffed("video", "mkv")),
    (b"\x93NUMPY", Sniffed("pose", "npy")),
    (b"PK\x03\x04", Sniffed("preset", "npz")),
)
_RIFF = {b"WAVE": Sniffed("audio", "wav"), b"WEBP": Sniffed("image", "webp"), b"AVI ": Sniffed("video", "avi")}
_AUDIO_BRANDS = (b"M4A ", b"M4B ")
_NUMBER = r"(?:[-+0-9.eE]+|[-+]?(?i:nan|inf|infinity))"  # nan/inf are read, then refused with their row
_NUMBER_ROW = re.compile(rf"\s*{_NUMBER}(\s*[,;\t ]\s*{_NUMBER})*\s*[,;]?\s*")
SNIFF_BYTES = 4096


def _looks_like_csv(head: bytes) -> bool:
    """ASCII rows of numbers separated by commas (an optional header row and ``#`` comments)."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    rows = [r for r in text.splitlines() if r.strip() and not r.lstrip().startswith("#")]
    if len(head) >= SNIFF_BYTES and len(rows) > 1:
        rows = rows[:-1]  # the last row may be cut by the sniff window
    if rows and not _NUMBER_ROW.fullmatch(rows[0]):
        rows = rows[1:]  # a header row
    return bool(rows) and all(_NUMBER_ROW.fullmatch(r) for r in rows)


def sniff(head: bytes) -> Sniffed | None:
    """The kind of a file from its first bytes (4 KiB is plenty), or None if not accepted."""
    for prefix, found in _PREFIXES:
        if head.startswith(prefix):
            return found
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AUDIO_BRANDS:
            return Sniffed("audio", "m4a")
        return Sniffed("video", "mov" if brand == b"qt  " else "mp4")
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0:
        return Sniffed("audio", "mp3")  # MPEG audio frame sync (MP3 without an ID3 tag)
    if _looks_like_csv(head):
        return Sniffed("pose", "csv")
    return None


#: which kinds each upload role accepts
ROLE_KINDS = {
    "portrait": ("image",),
    "audio": ("audio", "video"),
    "emotion": ("video", "preset"),
    "neutral": ("video",),
    "pose": ("pose", "video"),
}
