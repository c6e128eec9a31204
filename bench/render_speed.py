"""Speed of the landmark renderer and of paste-back, against classic baselines run in the same process.

    python bench/render_speed.py [--shared ../shared] [--frames 50] [--threads 1] [--append docs/benchmarks.md]

1. ``LandmarkRenderer.render`` at 256x256 on ``fixtures/portraits/60.png`` for a driven sequence
   (mouth opening and closing, head turning +-15 deg, a blink) against the textbook piecewise-affine
   face warp (``skimage.transform.PiecewiseAffineTransform`` on the same mesh + ``skimage.transform.warp``),
   which has no mouth interior, eyelids or smoothing, i.e. does less work.
2. ``paste_back`` of a frame into a 12-megapixel portrait (60.png enlarged on a 4000x3000 canvas)
   against the naive way: the frame warped to the whole image (``cv2.warpAffine``, cubic) and blended
   over the whole image in float32.

Each figure is the best of three passes (wall clock). ``--threads`` sets OpenCV's thread count
(1 = the figure per core; the pipeline may run frames on both cores).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_common import best_of


def driven_sequence(lm: np.ndarray, n: int) -> np.ndarray:
    """Mouth open/close, head turn +-15 deg (ellipsoid depth), a blink in the middle."""
    el, er = lm[36:42].mean(0), lm[42:48].mean(0)
    iod = float(np.linalg.norm(er - el))
    ex = (er - el) / iod
    ey = np.array([-ex[1], ex[0]])
    c, hw = lm[[0, 16]].mean(0), np.linalg.norm(lm[16] - lm[0]) / 2
    dx = (lm - c) @ ex
    z = np.sqrt(np.clip(1 - (dx / hw) ** 2, 0, 1)) * 0.7 * hw
    jaw = np.zeros(68)
    jaw[[6, 7, 8, 9, 10, 56, 57, 58, 65, 66, 67]] = [0.6, 0.85, 1, 0.85, 0.6] + [0.9] * 6
    out = []
    for i in range(n):
        t = np.radians(15.0 * np.sin(2 * np.pi * i / n))
        d = lm + np.outer(dx * np.cos(t) + z * np.sin(t) - dx, ex)
        d = d + np.outer(jaw * 0.3 * iod * (0.5 - 0.5 * np.cos(2 * np.pi * i / 12)), ey)
        if abs(i - n // 2) < 2:
            for u, low in ((37, 41), (38, 40), (43, 47), (44, 46)):
                d[u] = d[low]
        out.append(d)
    return np.asarray(out, np.float32)


def bench_render(crop, frames: int) -> dict:
    from skimage.transform import PiecewiseAffineTransform
    from skimage.transform import warp as sk_warp

    from eamm_core.engines.landmark import warp
    from eamm_core.engines.landmark.render import LandmarkRenderer

    seq = driven_sequence(crop.landmarks_px.astype(np.float64), frames)
    t0 = time.perf_counter()
    renderer = LandmarkRenderer(crop)
    setup = time.perf_counter() - t0
    ours = best_of(lambda: [renderer.render(lm) for lm in seq]) / frames
    c0 = time.process_time()
    for lm in seq:
        renderer.render(lm)
    cpu = (time.process_time() - c0) / frames
    mesh = renderer.mesh
    img = crop.image.astype(np.float64) / 255.0
    few = seq[: max(3, frames // 10)]

    def baseline():
        for lm in few:
            drv, _ = warp.drive_points(mesh, lm)
            tf = PiecewiseAffineTransform()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                tf.estimate(drv, mesh.src)  # output (driven) -> input (source), as warp() wants
            sk_warp(img, tf, output_shape=(256, 256))

    base = best_of(baseline, 1) / len(few)
    return {"setup_s": setup, "ours_ms": ours * 1e3, "cpu_ms": cpu * 1e3, "base_ms": base * 1e3}


def bench_paste(crop_path: Path) -> dict:
    import cv2

    from eamm_core.prepare.portrait import load_portrait
    from eamm_core.render.paste_back import PasteBack

    crop = load_portrait(crop_path)
    frame = crop.image
    t0 = time.perf_counter()
    plan = PasteBack(crop)
    setup = time.perf_counter() - t0
    ours = best_of(lambda: plan(frame))
    buf = plan(frame)
    reuse = best_of(lambda: plan(frame, out=buf))
    h, w = crop.original.shape[:2]
    weight = cv2.warpAffine(np.ones((256, 256), np.float32) * 0.5, crop.source_from_crop[:2], (w, h))[..., None]

    def naive():
        big = cv2.warpAffine(frame, crop.source_from_crop[:2], (w, h), flags=cv2.INTER_CUBIC)
        out = crop.original.astype(np.float32) * (1 - weight) + big.astype(np.float32) * weight
        return out.astype(np.uint8)

    base = best_of(naive)
    return {"setup_s": setup, "ours_ms": ours * 1e3, "reuse_ms": reuse * 1e3, "base_ms": base * 1e3,
            "megapixels": h * w / 1e6,
            "box": plan.box}


def big_portrait(shared: Path, folder: Path) -> Path:
    import cv2

    src = cv2.imread(str(shared / "fixtures" / "portraits" / "60.png"))
    canvas = np.full((3000, 4000, 3), 90, np.uint8)
    big = cv2.resize(src, None, fx=9, fy=9, interpolation=cv2.INTER_CUBIC)
    canvas[300:300 + big.shape[0], 850:850 + big.shape[1]] = big[: 3000 - 300, : 4000 - 850]
    path = folder / "portrait_12mp.png"
    cv2.imwrite(str(path), canvas)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--append", type=Path, default=None, help="append the results to this markdown file")
    args = ap.parse_args(argv)
    import cv2

    from eamm_core.prepare.portrait import load_portrait

    cv2.setNumThreads(args.threads)
    crop = load_portrait(args.shared / "fixtures" / "portraits" / "60.png")
    r = bench_render(crop, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        p = bench_paste(big_portrait(args.shared, Path(tmp)))
    lines = [
        f"render 256x256: {r['ours_ms']:.1f} ms/frame wall ({1e3 / r['ours_ms']:.0f} fps), {r['cpu_ms']:.1f} ms "
        f"CPU time; baseline skimage "
        f"piecewise-affine warp {r['base_ms']:.1f} ms/frame; ratio {r['base_ms'] / r['ours_ms']:.1f}x faster; "
        f"renderer setup {r['setup_s'] * 1e3:.0f} ms",
        f"paste-back into {p['megapixels']:.0f} MP: {p['ours_ms']:.1f} ms/frame, {p['reuse_ms']:.1f} ms reusing "
        f"the output buffer (face box {p['box']}); "
        f"baseline full-image warp + float blend {p['base_ms']:.1f} ms; ratio {p['base_ms'] / p['ours_ms']:.1f}x "
        f"faster; plan setup {p['setup_s'] * 1e3:.0f} ms",
    ]
    for line in lines:
        print(line)
    if args.append:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        head = (f"\n## render_speed ({datetime.date.today().isoformat()}, {os.cpu_count()}-core CPU)\n\n"
                f"`python bench/render_speed.py --frames {args.frames} --threads {args.threads}` on "
                f"{platform.machine()} / Python {platform.python_version()}; load average {load:.1f} when it "
                f"ran (the machine is shared, wall-clock figures are noisy; ratios come from the same run).\n\n")
        with open(args.append, "a", encoding="utf-8") as f:
            f.write(head + "".join(f"- {line}\n" for line in lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
