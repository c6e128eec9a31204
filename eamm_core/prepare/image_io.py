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


def _check_size(path: Path, w: int, h: int) -> None:
    if min(w, h) < MIN_SIDE:
        raise InputError(path, f"image is too small ({w}x{h} px)",
                         f"use an image at least {MIN_SIDE} px on each side")
    if max(w, h) > MAX_SIDE:
        raise InputError(path, f"image is too large ({w}x{h} px)", f"scale it to at most {MAX_SIDE} px per side")


def _open(path: Path):
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.is_file():
        raise InputError(path, "file not found", "check the path")
    fix_big = f"scale it to at most {MAX_SIDE} px per side"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)  # reads the header only
            _check_size(path, *img.size)
            img.load()
    except UnidentifiedImageError:
        raise InputError(path, "not an image (or an unsupported image format)",
                         "use a PNG, JPEG, WebP or TIFF file") from None
    except Image.DecompressionBombError:  # Pillow refuses > 2 x MAX_IMAGE_PIXELS (about 179 MP)
        raise InputError(path, "image is too large (over 179 megapixels)", fix_big) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"unreadable or truncated image ({exc})",
                         "re-export the image as PNG or JPEG") from None
    try:
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # noqa: BLE001 - broken EXIF should not make an image unusable
        log.warning("ignoring unreadable EXIF orientation in %s: %s", path.name, exc)
        return img


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Any sample array -> uint8 (16-bit and 32-bit integer data as 0..65535, floats as 0..1)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):  # 16-bit grey (I;16) or 32-bit integer (I) data
        wide = np.clip(arr, 0, 65535).astype(np.uint32)
        return ((wide + 128) // 257).astype(np.uint8)
    data = np.nan_to_num(arr.astype(np.float32))
    peak = 1.0 if float(data.max(initial=0.0)) <= 1.0 else 255.0
    return np.clip(data * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)


def _channels(img) -> tuple[np.ndarray, np.ndarray | None]:
    """PIL image -> (colour uint8 [H,W,3], alpha uint8 [H,W] or None)."""
    mode = img.mode
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if ("transparency" in img.info or mode == "PA") else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "1"):
        img = img.convert("RGB")
    elif mode == "La":
        img = img.convert("LA")
    elif mode == "RGBa":
        img = img.convert("RGBA")
    data = _to_uint8(np.asarray(img))
    if data.ndim == 2:
        return np.repeat(data[:, :, None], 3, axis=2), None
    if data.shape[2] == 2:  # grey + alpha
        return np.repeat(data[:, :, :1], 3, axis=2), data[:, :, 1]
    if data.shape[2] >= 4:
        return data[:, :, :3], data[:, :, 3]
    return data, None


def read_image(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an image file -> ``(rgb uint8 [H,W,3], alpha float32 [H,W] or None)``.

    EXIF orientation is applied; 16-bit data is scaled to 8 bits; alpha is composited on grey 128
    and returned (None when the image has no alpha or is fully opaque).
    """
    path = Path(path)
    img = _open(path)
    rgb, alpha8 = _channels(img)
    if alpha8 is None or int(alpha8.min()) == 255:
        return np.ascontiguousarray(rgb), None
    alpha = alpha8.astype(np.float32) / 255.0
    a = alpha[:, :, None]
    mixed = rgb.astype(np.float32) * a + NEUTRAL_GREY * (1.0 - a)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8), alpha
