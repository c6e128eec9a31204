"""Make ``samples/astronaut.png``: scikit-image's bundled astronaut photograph (Eileen Collins,
NASA, public domain; see samples/README.md), saved unchanged as a 512x512 RGB PNG.

    .venv/bin/python scripts/make_sample_portrait.py [--out samples/astronaut.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image
from skimage import data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "samples" / "astronaut.png")
    args = parser.parse_args()
    rgb = data.astronaut()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(args.out, optimize=True)
    print(f"wrote {args.out} ({rgb.shape[1]}x{rgb.shape[0]})")


if __name__ == "__main__":
    main()
