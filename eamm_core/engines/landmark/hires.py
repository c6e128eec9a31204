"""The full-resolution portrait seen through the 256 crop's frame at ``size`` x ``size`` pixels.

The renderer's geometry (mesh, landmarks, warp field) lives in the 256 crop's coordinates; the
pixels come from the original photo. Output pixel ``p`` of a ``size`` frame is crop coordinate
``c = (p - o) / s`` with ``s = size / 256`` and ``o = (s - 1) / 2`` (pixel centres line up, as
``cv2.resize`` has them), and crop coordinate ``c`` is original pixel ``source_from_crop @ c``.
So a frame is one bicubic resampling of the original (the warp's backward map composed with the
crop's similarity), and paste-back is the second.

Where the frame is smaller than the crop's span in the photo by more than 1/0.66 (a large photo
rendered at a small size) the part of the photo under the crop is first area-averaged to about
the frame's scale (no aliasing), as the 256 crop itself is made (``faces.warp_to_crop``).
"""

from __future__ import annotations

import cv2
import numpy as np

from eamm_core.errors import EammError
from eamm_core.prepare.faces import CROP_SIZE
from eamm_core.types import PortraitCrop

#: a source shrinking more than this per output pixel is area-averaged first
ANTIALIAS_BELOW_SCALE = 0.66
#: displacements below this (crop px) move nothing visible (under 1/32 px, the remap's own step)
MOVING = 1e-4


def out_from_crop(size: int) -> np.ndarray:
    """2x3 affine: 256-crop coordinates -> pixel coordinates of a ``size`` frame (centres aligned)."""
    s = size / CROP_SIZE
    o = (s - 1.0) / 2.0
    return np.array([[s, 0.0, o], [0.0, s, o]])


def to_out(points: np.ndarray, size: int) -> np.ndarray:
    """Crop-pixel points [...,2] as pixel coordinates of a ``size`` frame."""
    m = out_from_crop(size)
    return np.asarray(points, np.float64) * m[0, 0] + m[0, 2]


def affine_in_out(affine: np.ndarray, size: int) -> np.ndarray:
    """A 2x3 affine between crop coordinates expressed between ``size``-frame coordinates."""
    fwd = np.vstack([out_from_crop(size), [0.0, 0.0, 1.0]])
    return (fwd @ np.vstack([np.asarray(affine, np.float64), [0.0, 0.0, 1.0]]) @ np.linalg.inv(fwd))[:2]


class FullResSource:
    """The part of the original under the crop (area-averaged when it would alias) and the maps
    from ``size`` frame pixels into it. ``image`` is what frames are resampled from; ``frame_to_image``
    (2x3) takes frame pixels to its pixels; ``linear`` (2x2) takes crop-pixel displacements to its
    pixels; ``still`` is the portrait at ``size`` with no motion (for measuring colours and finish)."""

    def __init__(self, crop: PortraitCrop, size: int):
        original = np.asarray(crop.original)
        if original.ndim != 3 or original.shape[2] != 3 or original.dtype != np.uint8:
            raise EammError(f"rendering at {size} px needs the original portrait as uint8 RGB, got "
                            f"{original.dtype} {original.shape}")
        self.size = int(size)
        src_from_crop = np.asarray(crop.source_from_crop, np.float64)
        crop_from_frame = np.linalg.inv(np.vstack([out_from_crop(size), [0.0, 0.0, 1.0]]))
        frame_to_src = src_from_crop @ crop_from_frame
        image, image_from_src = _region(original, frame_to_src, self.size)
        self.image = np.ascontiguousarray(image)
        self.frame_to_image = (image_from_src @ frame_to_src)[:2]
        self.linear = (image_from_src @ src_from_crop)[:2, :2]
        ys, xs = np.mgrid[0:self.size, 0:self.size].astype(np.float64)
        m = self.frame_to_image
        self.base = np.dstack([m[0, 0] * xs + m[0, 1] * ys + m[0, 2],
                               m[1, 0] * xs + m[1, 1] * ys + m[1, 2]]).astype(np.float32)
        self._linear3 = np.hstack([self.linear, np.zeros((2, 1))]).astype(np.float32)
        self.still = self._remap(self.base)

    def _remap(self, coords: np.ndarray) -> np.ndarray:
        m1, m2 = cv2.convertMaps(coords, None, cv2.CV_16SC2)
        return cv2.remap(self.image, m1, m2, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)

    def sample(self, disp: np.ndarray) -> np.ndarray:
        """The frame for a backward displacement field ``disp`` (float32 [256,256,2], crop pixels):
        the field enlarged bilinearly to the frame (it is smooth), composed with the crop's
        similarity and one bicubic ``cv2.remap`` of the original (fixed-point maps, 1/32 px).
        Only the box where the field moves anything is resampled (a still head moves just the
        mouth, jaw and eyes); the rest is :attr:`still`, made by the same remap, so the bytes are
        those of a whole-frame remap."""
        mag = np.abs(disp)  # per row and per column: the largest displacement (either axis)
        rows = np.flatnonzero(mag.reshape(len(mag), -1).max(axis=1) > MOVING)
        cols = np.flatnonzero(mag.max(axis=0).max(axis=1) > MOVING)
        frame = self.still.copy()
        if len(rows) == 0:
            return frame
        s, n = self.size / CROP_SIZE, self.size
        # one crop pixel of bilinear spread each side, and the pixel-centre offset
        y0, x0 = (max(int(np.floor((v - 1) * s)) - 2, 0) for v in (rows[0], cols[0]))
        y1, x1 = (min(int(np.ceil((v + 2) * s)) + 2, n) for v in (rows[-1], cols[-1]))
        if disp.shape[0] != n:
            disp = cv2.resize(disp, (n, n), interpolation=cv2.INTER_LINEAR)
        coords = cv2.transform(disp[y0:y1, x0:x1], self._linear3)
        coords += self.base[y0:y1, x0:x1]
        frame[y0:y1, x0:x1] = self._remap(coords)
        return frame


def _region(original: np.ndarray, frame_to_src: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The original's part under the frame (a margin for the warp and the bicubic kernel), area-
    averaged when it shrinks by more than 1/:data:`ANTIALIAS_BELOW_SCALE`, and the 3x3 taking
    original pixels to its pixels."""
    h, w = original.shape[:2]
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ frame_to_src.T
    margin = 0.1 * float(np.ptp(corners[:, 0])) + 4
    x0, y0 = np.maximum(np.floor(corners[:, :2].min(0) - margin).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners[:, :2].max(0) + margin).astype(int) + 1, (w, h))
    if x1 - x0 < 2 or y1 - y0 < 2:  # the crop lies off the photo: use it all (edges replicated)
        x0, y0, x1, y1 = 0, 0, w, h
    part = original[y0:y1, x0:x1]
    shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
    per_px = float(np.sqrt(abs(np.linalg.det(frame_to_src[:2, :2]))))  # source px per frame px
    if per_px * ANTIALIAS_BELOW_SCALE <= 1.0:
        return part, shift
    nw, nh = max(int(round(part.shape[1] / per_px)), 2), max(int(round(part.shape[0] / per_px)), 2)
    kx, ky = part.shape[1] / nw, part.shape[0] / nh
    small = cv2.resize(part, (nw, nh), interpolation=cv2.INTER_AREA)
    scale = np.array([[1 / kx, 0.0, 0.5 / kx - 0.5], [0.0, 1 / ky, 0.5 / ky - 0.5], [0.0, 0.0, 1.0]])
    return small, scale @ shift
