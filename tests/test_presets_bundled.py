"""Bundled emotion presets: shipped in the package, usable by name from the CLI and the server."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from eamm_core.cli import build_parser
from eamm_core.cli.generate import spec_from_args
from eamm_core.presets import bundled_presets, load_preset, resolve_emotion


def test_three_presets_ship_and_load_with_real_displacements():
    presets = bundled_presets()
    assert set(presets) >= {"happy", "sad", "disgusted"}
    for name, path in presets.items():
        preset = load_preset(path)
        assert len(preset.displacements) > 50, name
        assert preset.displacements.value.shape[1:] == (3, 2)
        assert np.abs(preset.displacements.value).max() > 0.0, f"{name} preset has no displacement"


def test_emotion_names_resolve_to_bundled_presets_but_paths_win(tmp_path):
    assert resolve_emotion("happy") == bundled_presets()["happy"]
    assert resolve_emotion("Sad") == bundled_presets()["sad"]
    local = tmp_path / "happy"
    local.mkdir()
    assert resolve_emotion(local) == local  # an existing folder of frames is never replaced
    assert resolve_emotion("nonexistent") == Path("nonexistent")  # the loader reports it
    assert resolve_emotion("clip.mp4") == Path("clip.mp4")


def test_generate_accepts_a_preset_name():
    args = build_parser().parse_args(["generate", "--portrait", "p.png", "--audio", "a.wav", "--emotion", "sad",
                                      "--out", "o"])
    assert isinstance(args, argparse.Namespace)
    assert spec_from_args(args).emotion == bundled_presets()["sad"]
