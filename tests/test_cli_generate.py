"""``eamm generate``: arguments -> JobSpec, errors as one line, progress and summary."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from eamm_core.cli import build_parser, main
from eamm_core.cli.generate import ProgressBar, spec_from_args, summary
from eamm_core.job import JobResult, Progress
from eamm_core.output import probe_video

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"
SPEECH = REPO / "samples" / "speech.wav"
HAPPY = REPO / "samples" / "happy.npz"


def parse(*argv: str):
    return build_parser().parse_args(["generate", *argv])


def test_arguments_become_the_job_spec(tmp_path):
    curve = tmp_path / "s.csv"
    curve.write_text("frame,strength\n0,0\n10,1\n")
    words = tmp_path / "words.txt"
    words.write_text("maybe bob will bring a big map\n")
    args = parse("--portrait", "p.png", "--audio", "a.wav", "--emotion", "e.mp4", "--strength-curve", str(curve),
                 "--pose", "pose.json", "--seed", "4", "--paste-back", "--transcript", str(words),
                 "--frame-start", "5", "--frame-end", "50", "--no-blink", "--out", "o")
    spec = spec_from_args(args)
    np.testing.assert_allclose(spec.strength, np.linspace(0, 1, 11), rtol=1e-6)
    assert (spec.portrait, spec.audio, spec.emotion, spec.pose) == (Path("p.png"), Path("a.wav"), Path("e.mp4"),
                                                                     Path("pose.json"))
    assert spec.seed == 4 and spec.paste_back and not spec.blink and spec.engine == "landmark"
    assert spec.transcript == "maybe bob will bring a big map" and (spec.frame_start, spec.frame_end) == (5, 50)
    plain = spec_from_args(parse("--portrait", "p", "--audio", "a", "--strength", "0.8", "--out", "o"))
    assert plain.strength == 0.8 and plain.emotion is None and plain.write_mp4


def test_strength_and_curve_are_exclusive(capsys):
    with pytest.raises(SystemExit) as info:
        parse("--portrait", "p", "--audio", "a", "--strength", "1", "--strength-curve", "c.csv", "--out", "o")
    assert info.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_missing_input_is_one_line_on_stderr(tmp_path, capsys):
    rc = main(["generate", "--portrait", str(tmp_path / "nobody.png"), "--audio", str(SPEECH), "--out",
               str(tmp_path / "o"), "--quiet", "--no-cache"])
    err = capsys.readouterr().err
    assert rc == 2 and err == "eamm: portrait file not found in nobody.png: check the path\n"


def test_bad_curve_is_one_line_on_stderr(tmp_path, capsys):
    curve = tmp_path / "bad.json"
    curve.write_text("{oops")
    rc = main(["generate", "--portrait", str(PORTRAIT), "--audio", str(SPEECH), "--strength-curve", str(curve),
               "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("eamm: curve is not valid JSON") and err.count("\n") == 1


def test_progress_bar_and_summary_lines():
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar(Progress("prepare", 0, 3, "reading"))
    for done in range(0, 51):
        bar(Progress("render", done, 50))
    bar(Progress("encode", 0, 1, "encoding the MP4"))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "prepare: reading" and lines[-1] == "encode: encoding the MP4"
    assert "render [##############################] 50/50 frames" in lines
    res = JobResult(out_dir=Path("o"), frames_dir=Path("o/frames"), frame_count=50, first_frame=0,
                    mp4=Path("o/result.mp4"), manifest=Path("o/manifest.json"), cached_stages=["crop", "audio"])
    assert summary(res, 2.0) == "50 frames in 2.0 s (25.0 fps); MP4 o/result.mp4; cached: crop, audio"
    res.emotion_reference = "neutral reference: 12 near-neutral frames of the clip"
    assert summary(res, 2.0) == ("50 frames in 2.0 s (25.0 fps); MP4 o/result.mp4; cached: crop, audio; "
                                 "neutral reference: 12 near-neutral frames of the clip")


@pytest.mark.skipif(not HAPPY.is_file(), reason="samples/happy.npz missing")
def test_generate_end_to_end_with_a_strength_curve_and_paste_back(tmp_path, capsys):
    rate, data = wavfile.read(SPEECH)
    audio = tmp_path / "a.wav"
    wavfile.write(audio, rate, data[: int(1.2 * rate)])
    curve = tmp_path / "alpha.json"
    curve.write_text(json.dumps({"0": 0.0, "20": 1.0}))
    out = tmp_path / "out"
    rc = main(["generate", "--portrait", str(PORTRAIT), "--audio", str(audio), "--emotion", str(HAPPY),
               "--strength-curve", str(curve), "--paste-back", "--seed", "2", "--cache-dir", str(tmp_path / "c"),
               "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    last = captured.out.strip().splitlines()[-1]
    assert last.startswith("29 frames in ") and f"MP4 {out / 'result.mp4'}" in last and "cached: none; " in last
    # the summary says which neutral reference the emotion was measured against, as the manifest does
    assert last.endswith("; " + json.loads((out / "manifest.json").read_text())["emotion_reference"])
    assert "; emotion preset happy: neutral reference: " in last
    assert "render [" in captured.err
    info = probe_video(out / "result.mp4")
    assert (info.width, info.height, info.frames, info.has_audio) == (512, 512, 29, True)
    man = json.loads((out / "manifest.json").read_text())
    assert man["parameters"]["strength"][0] == 0.0 and man["parameters"]["strength"][20:] == [1.0] * 9
    assert man["engine"]["engine"] == "landmark" and man["seed"] == 2
    assert len(list((out / "pasted").glob("frame_*.png"))) == 29
