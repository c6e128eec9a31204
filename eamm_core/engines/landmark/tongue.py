"""Timed phones -> per-frame tongue visibility in [0, 1] (part of the motion stage).

The tongue tip is the articulator of T, D, N, L (raised against the ridge behind the upper teeth)
and of TH, DH (between the teeth); S and Z hold it close behind the teeth, less visibly. Those
phones get a target of 1 (0.5 for S, Z), every other phone 0. The targets are blended like the
lips' (:mod:`.mouth`: flat dominance over each phone, Gaussian decay outside, evaluated at 100 Hz,
averaged over each 40 ms frame, the same lead), with a higher dominance for the tongue phones: the
tongue tip must reach its target, while the vowels around it hardly constrain it. The renderer
raises the tongue by this amount in whatever opening the lips leave.
"""

from __future__ import annotations

import numpy as np

from eamm_core.engines.landmark.mouth import FPS, GRID_HZ, LEAD_S, blend_phones
from eamm_core.engines.landmark.phonemes import PhoneSegments

#: how far each phone shows the tongue (ARPAbet, stress removed); others 0
TONGUE_PHONES = {"T": 1.0, "D": 1.0, "N": 1.0, "L": 1.0, "TH": 1.0, "DH": 1.0, "S": 0.5, "Z": 0.5}
#: blend dominance of the tongue phones against their neighbours (others 1)
TONGUE_DOMINANCE = 3.0


def tongue_track(phones: PhoneSegments, num_frames: int) -> np.ndarray:
    """Tongue visibility per 25 fps frame, float32 [num_frames] in [0, 1]."""
    if len(phones) == 0 or num_frames <= 0:
        return np.zeros(max(num_frames, 0), np.float32)
    labels = ["".join(c for c in p.upper() if c.isalpha()) for p in phones.labels]
    target = np.array([TONGUE_PHONES.get(p, 0.0) for p in labels])
    weight = np.where(target > 0.0, TONGUE_DOMINANCE, 1.0)
    sub = int(GRID_HZ / FPS)
    grid = (np.arange(num_frames * sub) + 0.5) / GRID_HZ + LEAD_S
    # far from every phone the sum is ~0 and so is the tongue (in blocks: memory linear in the length)
    value = blend_phones(phones, weight, target[:, None], grid, total_floor=1e-9)[:, 0]
    return np.clip(value.reshape(num_frames, sub).mean(1), 0.0, 1.0).astype(np.float32)
