"""The landmark engine's renderer: driven 68 landmarks -> a frame of the portrait.

``LandmarkRenderer(crop, size=N)`` renders ``N x N`` frames of the crop's frame straight from the
full-resolution original (:mod:`.hires`): the geometry stays in 256-crop pixels, the pixels are
one bicubic resampling of the photo, and eyelids, mouth interior and teeth are painted at ``N``.
Without ``size`` it renders the 256 crop itself (``crop.image``), as before.

``LandmarkRenderer(crop)`` does all per-portrait work once (mesh, anchors, colours, buffers);
``render(drv_lm_px)`` then costs one map build, one ``cv2.remap`` and two small patches (eyes,
mouth interior), a few milliseconds on one CPU core. Output is deterministic: the same crop and
landmarks give the same bytes. See docs/engine-landmark.md, section "Renderer".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from eamm_core.engines.landmark import dense_mesh, eyes, hires, mouth_interior, warp
from eamm_core.engines.landmark.mouth_colour import MouthLook
from eamm_core.errors import EammError
from eamm_core.types import PortraitCrop

log = logging.getLogger(__name__)

SIZE = warp.SIZE
#: with bicubic interpolation the source is resampled bicubically once per portrait at this many
#: samples per pixel, and each frame interpolates linearly between those samples: the same pixels
#: as a bicubic remap per frame within ~53 dB PSNR (0.4 % of values off by more than 2/255, none by
#: more than 9; the crop's own pixels exactly). 4 samples give 57 dB, but a 4 MB table that does
#: not stay in a core's cache beside the frame writer and ffmpeg slows the rerun (docs/benchmarks.md)
SUPERSAMPLE = 2
#: driven landmarks farther than this outside the crop (px) are refused as nonsense
MAX_OUTSIDE = 2.0 * SIZE


class LandmarkRenderer:
    """Renders the portrait ``crop`` with its face moved to driven landmark positions.

    Not thread-safe (it reuses buffers): use one renderer per thread.
    """

    def __init__(self, crop: PortraitCrop, *, size: int | None = None, smooth_sigma: float = warp.SMOOTH_SIGMA,
                 interpolation: int = cv2.INTER_CUBIC, triangles: np.ndarray | None = None,
                 sampled: np.ndarray | None = None, mouth_look: MouthLook | None = None,
                 triangles68: np.ndarray | None = None):
        """``triangles`` and ``sampled``: ``renderer.mesh.triangles`` and ``renderer.sampled`` of an
        earlier renderer of the same crop (cached by the pipeline): the same renderer without the
        triangulation and the supersampling; ignored if they do not fit. ``size``: render ``size`` x
        ``size`` frames from ``crop.original`` (None: 256 frames from ``crop.image``). ``mouth_look``:
        ``renderer.mouth.look`` of an earlier renderer of the same crop and size (its measuring is
        most of a fresh process's setup: OpenCV builds its float CIELAB tables on the first use).
        ``triangles68``: ``renderer.mesh68.triangles`` likewise (crops with dense points)."""
        image = np.asarray(crop.image)
        if image.shape != (SIZE, SIZE, 3) or image.dtype != np.uint8:
            raise EammError(f"the portrait crop must be uint8 {SIZE}x{SIZE}x3, got {image.dtype} {image.shape}")
        lm = np.asarray(crop.landmarks_px, np.float64)
        if lm.shape != (68, 2) or not np.all(np.isfinite(lm)):
            raise EammError(f"the portrait crop needs 68 finite landmarks, got shape {lm.shape}")
        self.source = np.ascontiguousarray(image)
        self.src_lm = lm
        #: the crop's dense points in the mesh (:mod:`.dense_mesh`), None for a 68-point model;
        #: with them ``mesh`` holds them and ``mesh68`` (the 68-point mesh) drives the 68 points
        self.rig = None if crop.dense_px is None else dense_mesh.build_rig(lm, crop.dense_px)
        self.mesh68 = None
        if self.rig is None:
            self.mesh = _mesh(lm, triangles)
        else:
            self.mesh68 = _mesh(lm, triangles68)
            self.mesh = dense_mesh.loosen_irises(_mesh(lm, triangles, self.rig), self.rig)
            self._relax = dense_mesh.relax_mesh(self.mesh, len(self.mesh68.src))
        self.field = warp.WarpField(self.mesh, smooth_sigma)
        self.interpolation = interpolation
        self.size = SIZE if size is None else int(size)
        if self.size < 16 or self.size > 4096:
            raise EammError(f"frame size {self.size} is out of range (16-4096)")
        self.hires = None if size is None else hires.FullResSource(crop, self.size)
        self.unit = self.size / SIZE
        # kept with a 4th (unused) channel: OpenCV's bilinear remap of 4-channel uint8 is about twice
        # as fast as of 3-channel (wider SIMD lanes) and gives the same RGB bytes
        self.sampled = None
        if interpolation == cv2.INTER_CUBIC and self.hires is None:
            size = SUPERSAMPLE * (SIZE - 1) + 1
            fits = sampled is not None and sampled.shape == (size, size, 4) and sampled.dtype == np.uint8
            self.sampled = (np.ascontiguousarray(sampled) if fits else
                            cv2.cvtColor(_supersample(self.source, SUPERSAMPLE), cv2.COLOR_RGB2RGBA))
        self._scale = float(SUPERSAMPLE) if self.sampled is not None else 1.0
        self._rgba = np.empty((SIZE, SIZE, 4), np.uint8)
        still = self.source if self.hires is None else self.hires.still
        self._src_out = lm if self.hires is None else hires.to_out(lm, self.size)
        self.eyes = eyes.prepare_eyes(still, self._src_out, self.unit)
        self._lid_detail = None if self.hires is None else eyes.fine_detail(still, self.unit)  # see eyes._draw_lid
        self.mouth = mouth_interior.prepare_mouth(still, self._src_out, self.unit, look=mouth_look)
        self._up = -warp.face_frame(lm)[1]  # unit vector toward the top of the head
        log.debug("landmark renderer: %d vertices, %d triangles, mouth gap %.3f",
                  len(self.mesh.src), len(self.mesh.triangles), self.mouth.gap)

    def _check(self, drv_lm_px: np.ndarray) -> np.ndarray:
        drv = np.asarray(drv_lm_px, np.float64)
        if drv.shape != (68, 2):
            raise EammError(f"driven landmarks must be [68,2] crop pixels, got shape {drv.shape}")
        if not np.all(np.isfinite(drv)):
            raise EammError("driven landmarks contain NaN or infinite values (a bug in the motion stage)")
        if np.any(drv < -MAX_OUTSIDE) or np.any(drv > SIZE + MAX_OUTSIDE):
            raise EammError("driven landmarks lie far outside the 256x256 crop (a bug in the motion stage)")
        return drv

    def render(self, drv_lm_px: np.ndarray, tongue: float = 0.0) -> np.ndarray:
        """The frame (uint8 [S,S,3] RGB, S = ``self.size``) for driven landmarks ``drv_lm_px`` [68,2]
        in 256-crop pixels; ``tongue`` in [0,1]: how far the tongue is raised into view
        (``Keypoints.tongue``)."""
        drv = self._check(drv_lm_px)
        if self.rig is None:
            drv_pts, head = warp.drive_points(self.mesh, drv)
            lm = drv_pts[:68]
            eye_lines, lids = (lm[36:42], lm[42:48]), None
        else:
            drv_pts, head = self.drive_dense(drv)
            lm = drv_pts[:68]
            eye_lines, lids = self._dense_eyes(drv_pts)
        sharp = [lm[48:60], self._lid_region(eye_lines[0], 0), self._lid_region(eye_lines[1], 1), _hull(lm[27:36])]
        if self.hires is None:
            frame = self._resample(self.field.compute_map(drv_pts, sharp, scale=self._scale))
            eyes.draw_closing_eyes(frame, self.source, self.src_lm, lm, self.eyes, dense=lids)
            mouth_interior.draw_mouth(frame, lm, head, self.mouth, tongue=tongue)
            return frame
        frame = self.hires.sample(self.field.displacement(drv_pts, sharp))
        lm_out = hires.to_out(lm, self.size)
        lids_out = None if lids is None else [tuple(hires.to_out(p, self.size) for p in lid) for lid in lids]
        eyes.draw_closing_eyes(frame, self.hires.image, self._src_out, lm_out, self.eyes,
                               to_source=self.hires.frame_to_image, unit=self.unit, texture=self._lid_detail,
                               dense=lids_out)
        mouth_interior.draw_mouth(frame, lm_out, hires.affine_in_out(head, self.size), self.mouth, tongue=tongue)
        return frame

    def drive_dense(self, drv_lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All mesh vertices [V,2] (the dense points last) and the head's 2x3 affine for driven
        landmarks [68,2] of a crop with dense points."""
        plain, head = warp.drive_points(self.mesh68, drv_lm)
        return dense_mesh.drive_vertices(self._relax, self.rig, self.src_lm, plain, head), head

    def _dense_eyes(self, drv_pts: np.ndarray) -> tuple[list, list]:
        """The driven eye outlines of the dense mesh and, per eye, what :func:`.eyes.draw_closing_eyes`
        draws along (outline, driven upper lid, source upper lid)."""
        rig, lm = self.rig, drv_pts[:68]
        dense = drv_pts[len(drv_pts) - len(rig.ids):]
        lines = [rig.outline(lm, dense, side) for side in ("right", "left")]
        lids = [(line, rig.chain_points(lm, dense, f"{side}_upper"), rig.chain_points(self.src_lm, rig.src, f"{side}_upper"))
                for line, side in zip(lines, ("right", "left"))]
        return lines, lids

    def _resample(self, backward_map: np.ndarray) -> np.ndarray:
        """The source sampled at ``backward_map`` (float32 [256,256,2] source pixel coordinates,
        times :data:`SUPERSAMPLE` when sampling the supersampled source)."""
        if self.sampled is None:
            return cv2.remap(self.source, backward_map, None, self.interpolation, borderMode=cv2.BORDER_REPLICATE)
        rgba = cv2.remap(self.sampled, backward_map, None, cv2.INTER_LINEAR, dst=self._rgba,
                         borderMode=cv2.BORDER_REPLICATE)
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)

    def _lid_region(self, eye_pts: np.ndarray, which: int) -> np.ndarray:
        """The driven eye and the lid above it (kept out of the field's strong smoothing, so a
        lid coming down carries its lashes with it)."""
        up = eye_pts + self.eyes[which].opening / self.unit * 1.2 * self._up
        return cv2.convexHull(np.vstack([eye_pts, up]).astype(np.float32)).reshape(-1, 2)

    def render_many(self, drv_lm: Iterable[np.ndarray] | np.ndarray) -> Iterator[np.ndarray]:
        """Frames for a sequence of driven landmarks ([T,68,2] array or any iterable of [68,2]), lazily."""
        for lm in drv_lm:
            yield self.render(lm)


def _mesh(lm: np.ndarray, triangles: np.ndarray | None, rig: dense_mesh.DenseRig | None = None) -> warp.Mesh:
    """The warp mesh, from a cached triangulation when one is given and fits."""
    if triangles is not None:
        try:
            return warp.build_mesh(lm, triangles, dense=rig)
        except ValueError as exc:
            log.warning("cached mesh not used (%s); triangulating again", exc)
    return warp.build_mesh(lm, dense=rig)


def _hull(points: np.ndarray) -> np.ndarray:
    """The nose's driven outline. Kept out of the strong smoothing: under a head turn the nose,
    the face's most 3D part, moves differently from the cheeks around it (that is the turn), and a
    wide blur of the displacement would pull it back toward them."""
    return cv2.convexHull(np.asarray(points, np.float32)).reshape(-1, 2)


def _supersample(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` resampled bicubically at ``1/factor`` px steps: pixel ``(factor*y, factor*x)`` of
    the result is ``image[y, x]`` exactly; ``(factor*(H-1)+1, factor*(W-1)+1, C)``."""
    h, w = image.shape[:2]
    ys = np.arange(factor * (h - 1) + 1, dtype=np.float32) / factor
    xs = np.arange(factor * (w - 1) + 1, dtype=np.float32) / factor
    map_x, map_y = np.meshgrid(xs, ys)
    return cv2.remap(image, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
