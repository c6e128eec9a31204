"""A shot in farm stages (eamm_core.chunks): motion step, frame-range chunks sharing the folder,
resume after a crash, assemble refusing an incomplete or foreign folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eamm_core import folder_lock
from eamm_core.chunks import missing_ranges, run_motion_stage, run_render_chunk
from eamm_core.cli import build_parser, main
from eamm_core.job import JobSpec

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"
SPEECH = REPO / "samples" / "speech.wav"
HAPPY = REPO / "samples" / "happy.npz"


def spec(strength: float = 0.7, start: int = 0, end: int | None = None) -> JobSpec:
    return JobSpec(portrait=PORTRAIT, audio=SPEECH, emotion=HAPPY, strength=strength, frame_start=start,
                   frame_end=end)


def frames(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "frames").glob("frame_*.png"))}


def test_chunks_resume_and_assemble_refuses_missing_frames(tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    motion = run_motion_stage(spec(), out, cache_dir=cache)
    assert motion.frame_count == 170 and json.loads((out / "job.json").read_text())["job_key"] == motion.job_key
    # a chunk on another machine without the motion in its cache computes it itself
    run_render_chunk(spec(start=0, end=30), out, cache_dir=tmp_path / "other_cache")
    first = frames(out)
    assert len(first) == 30
    # a crash: two frames gone, one half-written; the re-run renders only those
    (out / "frames" / "frame_000010.png").unlink()
    (out / "frames" / "frame_000011.png").write_bytes(first["frame_000011.png"][:100])
    again = run_render_chunk(spec(start=0, end=30), out, cache_dir=cache)
    assert "frames" in again.cached_stages and frames(out) == first
    record = json.loads((out / "chunks" / "0-30.json").read_text())
    assert record["done"] and record["job_key"] == motion.job_key and not (out / "result.mp4").exists()
    run_render_chunk(spec(start=100, end=170), out, cache_dir=cache)

    rc = main(["assemble", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "70 of 170 frames are missing (frames 30-99)" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "running" and not (out / "result.mp4").exists()

    run_render_chunk(spec(start=30, end=100), out, cache_dir=cache)
    assert main(["assemble", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "done" and manifest["frame_count"] == 170 and (out / "result.mp4").is_file()


def test_only_the_motion_step_clears_another_jobs_frames(tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    run_motion_stage(spec(0.3), out, cache_dir=cache)
    run_render_chunk(spec(0.3, 0, 10), out, cache_dir=cache)
    old = frames(out)
    args = ["generate", "--portrait", str(PORTRAIT), "--audio", str(SPEECH), "--emotion", str(HAPPY),
            "--strength", "0.9", "--out", str(out), "--cache-dir", str(cache), "--quiet"]
    rc = main([*args, "--stage", "render", "--frames", "10-19"])
    err = capsys.readouterr().err
    assert rc == 2 and "belong to another job" in err and "--stage motion" in err and frames(out) == old
    assert main([*args, "--stage", "motion"]) == 0
    assert capsys.readouterr().out.strip() == "170"  # the frame count, for a farm submitter
    new_key = json.loads((out / "job.json").read_text())["job_key"]
    assert not frames(out) and not list((out / "chunks").glob("*.json"))
    assert folder_lock.frames_job_key(out) == new_key
    assert main([*args, "--stage", "render", "--frames", "0-9"]) == 0
    assert len(frames(out)) == 10 and frames(out) != old
    # a chunk past the shot's end (a farm's frame count rounded up) renders nothing and succeeds
    assert main([*args, "--stage", "render", "--frames", "170-199"]) == 0 and len(frames(out)) == 10


def test_motion_step_needs_the_cache_and_assemble_needs_the_job(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["generate", "--portrait", str(PORTRAIT), "--audio", str(SPEECH), "--out", str(out), "--quiet",
               "--stage", "motion", "--no-cache"])
    assert rc == 2 and "drop --no-cache" in capsys.readouterr().err
    out.mkdir(exist_ok=True)
    assert main(["assemble", str(out)]) == 2 and "--stage motion" in capsys.readouterr().err


def test_frame_ranges_as_farms_write_them():
    parse = build_parser().parse_args
    base = ["generate", "--portrait", "p", "--audio", "a", "--out", "o"]
    assert parse([*base, "--frames", "40-79"]).frames == (40, 80)
    assert parse([*base, "--frames", "7"]).frames == (7, 8)
    assert parse([*base, "--strength", "0.4"]).strength == 0.4
    assert parse([*base, "--strength", "curve.csv"]).strength == Path("curve.csv")
    assert parse([*base, "--pose", "", "--cache-dir", ""]).pose is None
    with pytest.raises(SystemExit):
        parse([*base, "--frames", "9-3"])
    assert missing_ranges([3, 4, 5, 9, 11, 12]) == [(3, 5), (9, 9), (11, 12)]


def test_a_motion_step_with_bad_input_leaves_a_finished_folder_as_it_was(tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    run_motion_stage(spec(), out, cache_dir=cache)
    run_render_chunk(spec(start=0, end=170), out, cache_dir=cache)
    assert main(["assemble", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and ".eamm-lock" not in p.parts}
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    rc = main(["generate", "--portrait", str(PORTRAIT), "--audio", str(SPEECH), "--emotion", str(broken),
               "--out", str(out), "--cache-dir", str(cache), "--quiet", "--stage", "motion"])
    assert rc == 2 and capsys.readouterr().err.count("\n") == 1
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and ".eamm-lock" not in p.parts}
    assert after == before
