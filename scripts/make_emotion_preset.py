"""Make an emotion preset (.npz) from an emotion clip with the landmark engine's emotion measure.

    python scripts/make_emotion_preset.py [CLIP] [OUT] [--neutral NEUTRAL] [--name NAME]

Defaults make the demo's own preset: ``../shared/fixtures/emotion/happy.mp4`` -> ``samples/happy.npz``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eamm_core.engines.landmark.preset import extract_preset
from eamm_core.errors import EammError
from eamm_core.presets import load_preset, save_preset

DEFAULT_CLIP = REPO.parent / "shared" / "fixtures" / "emotion" / "happy.mp4"
DEFAULT_OUT = REPO / "samples" / "happy.npz"
log = logging.getLogger("make_emotion_preset")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--neutral", type=Path, default=None, help="a neutral image or clip of the same actor")
    parser.add_argument("--name", default=None)
    parser.add_argument("--max-frames", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        preset = extract_preset(args.clip, name=args.name, neutral_path=args.neutral, max_frames=args.max_frames)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        save_preset(preset, args.out)
        check = load_preset(args.out)
    except EammError as exc:
        log.error("%s", exc)
        return 2
    log.info("wrote %s: %d frames, %s (%d bytes)", args.out, len(check.displacements),
             check.meta.get("reference", ""), args.out.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
