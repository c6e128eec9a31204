"""Teeth colour against the picture's own eye whites, on any portraits (held-out pictures welcome).

For each portrait: the landmark renderer opens the jaw step by step (a fixed sequence of driven
landmarks, no audio), and on every open-mouth frame the teeth's median CIELAB colour (bright pixels
inside the inner lips, as ``bench/quality.py`` measures them) is compared with the portrait's eye
whites (the brightest quarter of the eye polygons of the source crop). Prints, per portrait, the
median over frames of the chroma difference |(Δa*, Δb*)|, the signed Δa*, Δb*, ΔL*, and the spread
of the teeth's (a*, b*) across frames (steadiness). Usage::

    python bench/teeth_colour.py                       # the fixture portraits
    python bench/teeth_colour.py painting.jpg graded.png bw.png
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality_helpers as H

from eamm_core.errors import EammError

FIXTURES = REPO.parent / "shared" / "fixtures" / "portraits"
DEFAULT = ("21.png", "60.png", "7.png", "paint1.jpg")
#: jaw drop per frame, in 0.35 inter-ocular distances
OPENINGS = np.linspace(0.3, 1.1, 9)
log = logging.getLogger("teeth_colour")


def open_jaw(lm: np.ndarray, amount: float) -> np.ndarray:
    """The jaw, chin and lower lip moved down by ``amount`` x 0.35 inter-ocular distances."""
    lm = np.asarray(lm, np.float64).copy()
    el, er = lm[36:42].mean(0), lm[42:48].mean(0)
    iod = float(np.linalg.norm(er - el))
    ex = (er - el) / iod
    down = np.array([-ex[1], ex[0]])
    w = np.zeros(68)
    w[[5, 11]], w[[6, 10]], w[[7, 9]], w[8] = 0.35, 0.6, 0.85, 1.0
    w[[55, 59]], w[[56, 57, 58, 65, 66, 67]], w[[48, 54, 60, 64]], w[[4, 12]] = 0.6, 0.9, 0.35, 0.15
    w[[50, 51, 52, 61, 62, 63]] = -0.08
    return (lm + np.outer(w * 0.35 * iod * amount, down)).astype(np.float32)


def measure(path: Path) -> dict:
    from eamm_core.engines.landmark.render import LandmarkRenderer
    from eamm_core.prepare.portrait import load_portrait

    crop = load_portrait(path)
    sclera = H.sclera_lab(crop.image, crop.landmarks_px)
    renderer = LandmarkRenderer(crop)
    teeth = []
    for amount in OPENINGS:
        drv = open_jaw(crop.landmarks_px, amount)
        if H.inner_gap(drv) < H.OPEN_GAP:
            continue
        lab = H.teeth_lab(renderer.render(drv), drv)
        if lab is not None:
            teeth.append(lab)
    if sclera is None or not teeth:
        return {"name": path.name, "frames": len(teeth)}
    t = np.array(teeth)
    d = t - sclera
    return {"name": path.name, "frames": len(t), "chroma": float(np.median(np.hypot(d[:, 1], d[:, 2]))),
            "da": float(np.median(d[:, 1])), "db": float(np.median(d[:, 2])), "dL": float(np.median(d[:, 0])),
            "sclera": sclera, "spread": float(np.hypot(*t[:, 1:].std(0)))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("portraits", type=Path, nargs="*", help="portrait images (default: the fixture portraits)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    paths = args.portraits or [FIXTURES / n for n in DEFAULT]
    print("| portrait | open frames | chroma |(Δa*,Δb*)| ↓ | Δa* | Δb* | ΔL* | eye whites L*,a*,b* "
          "| teeth (a*,b*) spread over frames |")
    print("|---|---|---|---|---|---|---|---|")
    for path in paths:
        try:
            r = measure(path)
        except (EammError, OSError) as exc:
            print(f"teeth_colour: {path}: {exc}", file=sys.stderr)
            return 2
        if "chroma" not in r:
            print(f"| {r['name']} | {r['frames']} | n/a (no eye whites or no teeth) | | | | | |")
            continue
        sc = ", ".join(f"{v:.1f}" for v in r["sclera"])
        print(f"| {r['name']} | {r['frames']} | {r['chroma']:.1f} | {r['da']:+.1f} | {r['db']:+.1f} "
              f"| {r['dL']:+.1f} | {sc} | {r['spread']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
