"""A run that fails validation leaves its --out folder exactly as it found it:
finished frames and MP4 kept, manifest untouched, and no empty folder created for a new --out."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from eamm_core.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("validation")


def _generate(out: Path, audio: Path, cache: Path, *extra: str) -> int:
    return cli_main(["generate", "--portrait", str(PORTRAIT), "--audio", str(audio), "--frame-end", "3",
                     "--quiet", "--cache-dir", str(cache), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def finished(workdir, speech_1s) -> Path:
    out = workdir / "finished"
    assert _generate(out, speech_1s, workdir / "cache") == 0
    assert (out / "result.mp4").is_file() and len(list((out / "frames").glob("*.png"))) == 3
    return out


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def _bad_inputs(workdir: Path) -> dict[str, list[str]]:
    bad_pose = workdir / "bad_pose.csv"
    bad_pose.write_text("1,2,3\n4,5,6\n")
    corrupt = workdir / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    faceless = workdir / "faceless"
    faceless.mkdir(exist_ok=True)
    for i in range(4):
        cv2.imwrite(str(faceless / f"{i:04d}.png"), np.full((128, 128, 3), 90 + i, np.uint8))
    return {"pose": ["--pose", str(bad_pose)], "corrupt emotion": ["--emotion", str(corrupt)],
            "faceless emotion": ["--emotion", str(faceless)], "strength": ["--strength", "1e9"]}


@pytest.mark.parametrize("case", ["pose", "corrupt emotion", "faceless emotion", "strength"])
def test_bad_input_leaves_a_finished_folder_as_it_was(case, finished, workdir, speech_1s, capsys):
    before = _snapshot(finished)
    capsys.readouterr()
    code = _generate(finished, speech_1s, workdir / "cache", *_bad_inputs(workdir)[case])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "internal error" not in err and "bug" not in err, err
    assert _snapshot(finished) == before


@pytest.mark.parametrize("case", ["pose", "faceless emotion", "strength"])
def test_bad_input_creates_no_output_folder(case, workdir, speech_1s, capsys):
    out = workdir / f"never_{case.replace(' ', '_')}"
    assert _generate(out, speech_1s, workdir / "cache", *_bad_inputs(workdir)[case]) == 2
    assert not out.exists()


def test_strength_out_of_the_servers_range_is_one_line_naming_the_range(workdir, speech_1s, capsys):
    capsys.readouterr()
    assert _generate(workdir / "s", speech_1s, workdir / "cache", "--strength", "1e9") == 2
    err = capsys.readouterr().err
    assert "strength" in err and "-10" in err and "10" in err and err.count("\n") == 1
