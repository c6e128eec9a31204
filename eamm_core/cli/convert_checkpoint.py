"""``eamm convert-checkpoint``: the authors' EAMM (and FOMM) checkpoints → our model folder (docs/models.md)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("eamm.convert")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "convert-checkpoint", help="convert the authors' .pth.tar checkpoints into an installed model",
        description="Read the authors' checkpoints (124_52000.pth.tar: generator + kp_detector, or FOMM's "
                    "vox-cpk.pth.tar; 1-6000.pth.tar: audio_feature + kp_detector_a; 5-3000.pth.tar: "
                    "emo_detector), check every key and shape, and write model.safetensors + manifest.json.")
    p.add_argument("sources", nargs="+", type=Path, metavar="SRC", help="the .pth.tar files (any order)")
    p.add_argument("--out", type=Path, default=None,
                   help="model folder to write (default: $EAMM_MODEL_DIR/eamm or ~/.local/share/eamm/models/eamm)")
    p.add_argument("--config", choices=("released", "tiny"), default="released",
                   help="network sizes (tiny: the test-size networks; the authors' files are 'released')")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eamm_core.engines.neural import checkpoint, config

    out = args.out or checkpoint.default_model_dir()
    cfg = config.tiny() if args.config == "tiny" else config.released()
    report = checkpoint.convert(list(args.sources), out, cfg)
    for line in report.lines():
        log.info("  %s", line)
    if Path(out) == checkpoint.default_model_dir():
        log.info("model written to %s (the default: eamm generate --engine neural uses it)", out)
    else:
        log.info("model written to %s (use it with: eamm generate --engine neural --model-dir %s)", out, out)
    return 0
