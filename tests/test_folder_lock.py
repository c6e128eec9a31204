"""The output-folder lock (eamm_core.folder_lock): one job key at a time in an --out folder,
chunks of one job together, dead holders taken over, frames recorded with the job that made them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from eamm_core import folder_lock
from eamm_core.folder_lock import FolderBusyError, acquire

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"
SPEECH = REPO / "samples" / "speech.wav"


def _holder_file(folder: Path, name: str, **record) -> Path:
    lock_dir = folder / folder_lock.LOCK_DIR
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / name
    path.write_text(json.dumps(record))
    return path


def test_same_job_shares_another_job_is_refused_naming_the_holder(tmp_path):
    first = acquire(tmp_path, "job-a")
    second = acquire(tmp_path, "job-a")  # a second chunk of the same job
    with pytest.raises(FolderBusyError) as info:
        acquire(tmp_path, "job-b")
    msg = str(info.value)
    assert info.value.exit_code == 2 and f"host {socket.gethostname()}, pid {os.getpid()}" in msg and "--wait" in msg
    with pytest.raises(FolderBusyError):  # assemble needs the folder to itself
        acquire(tmp_path, "job-a", exclusive=True)
    first.release()
    second.release()
    with acquire(tmp_path, "job-b", exclusive=True):
        with pytest.raises(FolderBusyError, match="eamm assemble"):
            acquire(tmp_path, "job-b")
    assert not list((tmp_path / folder_lock.LOCK_DIR).glob("*.json"))


def test_dead_holders_are_taken_over_live_ones_on_other_hosts_are_not(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _holder_file(tmp_path, "here-dead.json", job_key="old", host=socket.gethostname(), pid=dead.pid)
    stale = _holder_file(tmp_path, "far-stale.json", job_key="old", host="render-07", pid=4242)
    old = time.time() - folder_lock.STALE_S - 5
    os.utime(stale, (old, old))
    with acquire(tmp_path, "new"):  # both holders are gone: the killed process and the dead machine
        assert not stale.exists()
    _holder_file(tmp_path, "far-live.json", job_key="old", host="render-07", pid=4242)
    with pytest.raises(FolderBusyError, match="host render-07, pid 4242"):
        acquire(tmp_path, "new")
    (tmp_path / folder_lock.LOCK_DIR / "far-live.json").unlink()
    # on this host a live process holds the folder however old its heartbeat (a long stall is not death)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        slow = _holder_file(tmp_path, "here-slow.json", job_key="old", host=socket.gethostname(), pid=alive.pid)
        os.utime(slow, (old, old))
        with pytest.raises(FolderBusyError, match=f"pid {alive.pid}"):
            acquire(tmp_path, "new")
    finally:
        alive.kill()
        alive.wait()


def test_wait_waits_for_the_holder(tmp_path, monkeypatch):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    _holder_file(tmp_path, "h.json", job_key="other", host=socket.gethostname(), pid=holder.pid)
    threading.Thread(target=holder.wait, daemon=True).start()  # reaped when it ends, as its parent would
    t0 = time.monotonic()
    with acquire(tmp_path, "mine", wait=True, poll_s=0.05):
        waited = time.monotonic() - t0
    assert waited >= 1.0  # it took the folder only once the holder had ended


def _clip(tmp_path: Path, seconds: float) -> Path:
    sr, x = wavfile.read(SPEECH)
    reps = int(np.ceil(seconds * sr / len(x)))
    path = tmp_path / "speech_long.wav"
    wavfile.write(path, sr, np.tile(x, reps)[: int(seconds * sr)])
    return path


def _generate(out: Path, audio: Path, cache: Path, strength: str, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "eamm_core", "generate", "--portrait", str(PORTRAIT), "--audio", str(audio),
            "--emotion", "happy", "--strength", strength, "--out", str(out), "--cache-dir", str(cache),
            "--quiet", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _wait_for_holder(out: Path, proc: subprocess.Popen) -> None:
    lock_dir = out / folder_lock.LOCK_DIR
    for _ in range(3000):
        if lock_dir.is_dir() and list(lock_dir.glob("*.json")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the first job never held the folder")


@pytest.mark.slow
def test_two_jobs_on_one_folder_never_mix(tmp_path):
    """Strength 0.3 running; strength 0.9 on the same --out exits 2 naming the holder; with
    --wait it runs after it. The folder ends with one job's frames, recorded as that job's."""
    audio, out, cache = _clip(tmp_path, 12.0), tmp_path / "out", tmp_path / "cache"
    first = _generate(out, audio, cache, "0.3")
    _wait_for_holder(out, first)
    second = _generate(out, audio, cache, "0.9")
    err = second.communicate()[1]
    assert second.returncode == 2, err
    assert err.count("\n") == 1 and f"pid {first.pid}" in err and socket.gethostname() in err
    waiting = _generate(out, audio, cache, "0.9", "--wait")
    assert first.wait() == 0
    assert waiting.wait() == 0, waiting.communicate()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "done" and manifest["parameters"]["strength"] == pytest.approx(0.9)
    assert folder_lock.frames_job_key(out) == manifest["job_key"]
    assert len(list((out / "frames").glob("frame_*.png"))) == manifest["audio_frames"] > 250


def test_resume_keeps_only_frames_of_the_same_job(tmp_path):
    """A folder whose manifest names this job but whose frames were made by another (the mix a race
    between two jobs can leave) is rendered again, not 'resumed'."""
    from eamm_core.job import JobSpec
    from eamm_core.pipeline import run_job

    out, cache = tmp_path / "out", tmp_path / "cache"
    happy = REPO / "samples" / "happy.npz"
    spec = JobSpec(portrait=PORTRAIT, audio=SPEECH, emotion=happy, strength=0.3, frame_end=20, write_mp4=False)
    run_job(spec, out, cache_dir=cache)
    low = (out / "frames" / "frame_000010.png").read_bytes()
    high_spec = JobSpec(portrait=PORTRAIT, audio=SPEECH, emotion=happy, strength=0.9, frame_end=20, write_mp4=False)
    run_job(high_spec, tmp_path / "ref", cache_dir=cache)
    manifest = json.loads((tmp_path / "ref" / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps(manifest))  # names 0.9; frames are 0.3's
    res = run_job(high_spec, out, cache_dir=cache)
    assert "frames" not in res.cached_stages
    high = (out / "frames" / "frame_000010.png").read_bytes()
    assert high != low and high == (tmp_path / "ref" / "frames" / "frame_000010.png").read_bytes()


@pytest.mark.slow
def test_a_killed_jobs_lock_is_taken_over(tmp_path):
    """kill -9 leaves the holder file behind; the next job (another strength) takes the folder over
    at once and the folder ends with its frames only."""
    import signal

    audio, out, cache = _clip(tmp_path, 12.0), tmp_path / "out", tmp_path / "cache"
    first = _generate(out, audio, cache, "0.3")
    _wait_for_holder(out, first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert list((out / folder_lock.LOCK_DIR).glob("*.json"))  # the dead holder's file is still there
    second = _generate(out, audio, cache, "0.9")
    _, err = second.communicate()
    assert second.returncode == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "done" and folder_lock.frames_job_key(out) == manifest["job_key"]
    assert len(list((out / "frames").glob("frame_*.png"))) == manifest["audio_frames"]
    assert not list((out / folder_lock.LOCK_DIR).glob("*.json"))


def test_an_output_folder_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    from eamm_core.errors import EammError

    with pytest.raises(EammError, match="cannot use the output folder") as info:
        acquire(tmp_path / "out", "job")
    assert info.value.exit_code == 2 and "\n" not in str(info.value)
