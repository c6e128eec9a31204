"""Reading still images: PNG/JPEG/WebP/TIFF/BMP, 8- or 16-bit, grey/RGB/RGBA/palette, EXIF orientation.

:func:`read_image` always returns ``uint8`` RGB plus the alpha channel (float32 in [0,1]) when the
file has a transparent part. Transparent pixels are composited on neutral grey (128) so the face
detector and the networks never see arbitrary colours hiding behind alpha.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from eamm_core.errors import InputError

log = logging.getLogger(__name__)

MIN_SIDE = 128
MAX_SIDE = 16384
NEUTRAL_GREY = 128.0
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}


def _open(path: Path):
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.is_file():
        raise InputError(path, "file not found", "check the path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()
    except UnidentifiedImageError:
        raise InputError(path, "not an image (or an unsupported image format)",
                         "use a PNG, JPEG, WebP or TIFF file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(path, "image is too large", f"use an image of at most {MAX_SIDE} px per side") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"unreadable or truncated image ({exc})",
                         "re-export the image as PNG or JPEG") from None
    try:
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # noqa: BLE001 - broken EXIF should not make an image unusable
        log.warning("ignoring unreadable EXIF orientation in %s: %s", path.name, exc)
        return img


def _to_unit_float(arr: np.ndarray) -> np.ndarray:
    """Any integer/float sample array -> float32 in [0,1] (16-bit data keeps its precision)."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):  # 16-bit grey (I;16) or 32-bit integer (I) data
        return np.clip(arr.astype(np.float32) / 65535.0, 0.0, 1.0)
    data = arr.astype(np.float32)
    peak = 1.0 if float(np.nanmax(data, initial=0.0)) <= 1.0 else 255.0
    return np.clip(np.nan_to_num(data) / peak, 0.0, 1.0)


def _channels(img) -> tuple[np.ndarray, np.ndarray | None]:
    """PIL image -> (colour float [H,W,3] in [0,1], alpha float [H,W] or None)."""
    mode = img.mode
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if ("transparency" in img.info or mode == "PA") else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "1"):
        img = img.convert("RGB")
    elif mode == "La":
        img = img.convert("LA")
    elif mode == "RGBa":
        img = img.convert("RGBA")
    arr = np.asarray(img)
    if arr.ndim == 2:
        grey = _to_unit_float(arr)
        return np.repeat(grey[:, :, None], 3, axis=2), None
    data = _to_unit_float(arr)
    if data.shape[2] == 2:  # grey + alpha
        return np.repeat(data[:, :, :1], 3, axis=2), data[:, :, 1]
    if data.shape[2] >= 4:
        return data[:, :, :3], data[:, :, 3]
    return data[:, :, :3], None


def read_image(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an image file -> ``(rgb uint8 [H,W,3], alpha float32 [H,W] or None)``.

    EXIF orientation is applied; 16-bit data is scaled to 8 bits; alpha is composited on grey 128
    and returned (None when the image has no alpha or is fully opaque).
    """
    path = Path(path)
    img = _open(path)
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise InputError(path, f"image is too small ({w}x{h} px)",
                         f"use an image at least {MIN_SIDE} px on each side")
    if max(w, h) > MAX_SIDE:
        raise InputError(path, f"image is too large ({w}x{h} px)", f"scale it to at most {MAX_SIDE} px per side")
    colour, alpha = _channels(img)
    if alpha is not None and float(alpha.min()) >= 1.0:
        alpha = None
    if alpha is not None:
        a = alpha[:, :, None]
        colour = colour * a + (NEUTRAL_GREY / 255.0) * (1.0 - a)
        alpha = alpha.astype(np.float32)
    rgb = np.clip(colour * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(rgb), alpha
