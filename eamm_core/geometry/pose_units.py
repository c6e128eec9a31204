"""Head-pose units: the artist's values <-> the 3DDFA_V2 values a :class:`~eamm_core.types.PoseTrack` holds.

3DDFA values are ``[yaw, pitch, roll]`` in degrees, then the weak-perspective scale ``s`` and
translation ``tx, ty`` of 3DDFA's 120x120 input crop (raw, y pointing UP). Artist values keep the
angles and give scale as a multiplier (1 = the portrait's own size) and offsets as fractions of
the crop width, +x right, +y down.
"""

from __future__ import annotations

import numpy as np

#: 3DDFA weak-perspective constants for a face filling the aligned crop (observed in the
#: reference implementation's 3DDFA poses)
REF_SCALE = 0.0005
REF_TX = 63.0
REF_TY = 72.0
#: 3DDFA's input crop size: translations are in these pixels, y pointing UP
DDFA_CROP = 120.0


def pose_from_artist(yaw, pitch, roll, scale=1.0, offset_x=0.0, offset_y=0.0) -> np.ndarray:
    """Artist values -> [T,6] 3DDFA pose. Angles in degrees; ``scale`` a multiplier (1 = the
    portrait's own size); offsets as fractions of the crop width, +x right, +y down."""
    cols = np.broadcast_arrays(*[np.atleast_1d(np.asarray(v, np.float64))
                                 for v in (yaw, pitch, roll, scale, offset_x, offset_y)])
    yaw, pitch, roll, scale, ox, oy = cols
    out = np.stack([yaw, pitch, roll, REF_SCALE * scale, REF_TX + ox * DDFA_CROP, REF_TY - oy * DDFA_CROP], 1)
    return out.astype(np.float32)


def artist_from_pose(values: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pose_from_artist`: [T,6] -> [T,6] (yaw, pitch, roll, scale, offset_x, offset_y)."""
    v = np.asarray(values, np.float64).reshape(-1, 6)
    out = np.stack([v[:, 0], v[:, 1], v[:, 2], v[:, 3] / REF_SCALE,
                    (v[:, 4] - REF_TX) / DDFA_CROP, (REF_TY - v[:, 5]) / DDFA_CROP], 1)
    return out.astype(np.float32)
