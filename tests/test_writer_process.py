"""The forked frame writer: frames written in order by a child process, errors and aborts reported
back, and the pipeline's frames and MP4 the same bytes as with the writer thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from eamm_core import writer_process
from eamm_core.errors import EammError
from eamm_core.writer_process import WriterProcess

pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and hasattr(os, "fork")),
                                reason="the forked writer is used on Linux only")

REPO = Path(__file__).resolve().parents[1]
SHAPE = (8, 6, 3)


def frame(i: int) -> np.ndarray:
    return np.full(SHAPE, i, np.uint8) + np.arange(np.prod(SHAPE), dtype=np.uint8).reshape(SHAPE)


def make_writer(folder: Path, *, fail_at: int | None = None) -> WriterProcess:
    """A child that saves each frame as .npy, and records finish/abort as marker files."""

    def write(index: int, rgb: np.ndarray) -> None:
        if index == fail_at:
            raise EammError(f"could not write frame {index}: disk full")
        np.save(folder / f"{index:04d}.npy", rgb)

    def finish() -> bool:
        (folder / "finished").write_text("yes")
        return True

    def abort() -> None:
        (folder / "aborted").write_text("yes")

    return WriterProcess(write, finish, abort, SHAPE)


def test_every_frame_is_written_in_order_then_finished(tmp_path):
    writer = make_writer(tmp_path)
    for i in range(20):  # more frames than slots: the parent waits for the child
        writer.submit(i, frame(i))
    assert writer.close() is True
    assert writer.done == 20 and (tmp_path / "finished").exists() and not (tmp_path / "aborted").exists()
    for i in range(20):
        assert np.array_equal(np.load(tmp_path / f"{i:04d}.npy"), frame(i))


def test_a_child_that_has_finished_and_gone_before_the_parent_reads_is_not_an_error(tmp_path, monkeypatch):
    """The child's last records and its end of file arrive in one read: the records count first."""
    import time

    send = WriterProcess._send

    def slow_send(self, kind, value):
        send(self, kind, value)
        if kind != writer_process.FRAME:
            time.sleep(0.5)  # the child answers, writes DONE and exits before the parent looks

    monkeypatch.setattr(WriterProcess, "_send", slow_send)
    writer = make_writer(tmp_path)
    for i in range(3):
        writer.submit(i, frame(i))
    time.sleep(0.3)
    assert writer.close() is True and writer.done == 3


def test_abort_runs_the_abort_callback_and_keeps_written_frames(tmp_path):
    writer = make_writer(tmp_path)
    for i in range(3):
        writer.submit(i, frame(i))
    assert writer.close(abort=True) is False
    assert writer.done == 3 and (tmp_path / "aborted").exists() and not (tmp_path / "finished").exists()
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == ["0000.npy", "0001.npy", "0002.npy"]


def test_an_error_in_the_child_reaches_the_parent_with_its_message(tmp_path):
    writer = make_writer(tmp_path, fail_at=4)
    with pytest.raises(EammError, match="could not write frame 4: disk full"):
        for i in range(12):
            writer.submit(i, frame(i))
        writer.close()
    writer.kill()  # idempotent after the failure
    assert (tmp_path / "aborted").exists()
    assert sorted(p.name for p in tmp_path.glob("*.npy")) == [f"{i:04d}.npy" for i in range(4)]


def test_a_child_that_dies_is_reported_not_waited_for(tmp_path):
    writer = make_writer(tmp_path)
    writer.submit(0, frame(0))
    os.kill(writer._pid, 9)
    with pytest.raises(EammError, match="stopped unexpectedly"):
        for i in range(1, 20):
            writer.submit(i, frame(i))
        writer.close()


def test_a_frame_of_another_size_is_refused(tmp_path):
    writer = make_writer(tmp_path)
    with pytest.raises(EammError, match="frame 0 is"):
        writer.submit(0, np.zeros((4, 4, 3), np.uint8))
    assert writer.close() is True


class _Waiting:
    """A thread alive for the ``with`` block (optionally marked fork-safe)."""

    def __init__(self, fork_safe: bool = False):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.stop.wait)
        if fork_safe:
            setattr(self.thread, writer_process.FORK_SAFE_ATTR, True)

    def __enter__(self):
        self.thread.start()

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_usable_only_without_other_threads_and_unless_switched_off(monkeypatch):
    monkeypatch.delenv(writer_process.ENV_MODE, raising=False)
    with _Waiting():
        assert writer_process.usable() is False
    if threading.active_count() == 1:  # pytest plugins may keep threads of their own
        assert writer_process.usable() is True
        with _Waiting(fork_safe=True):  # as the server's job runner marks its stdin watcher
            assert writer_process.usable() is True
        monkeypatch.setenv(writer_process.ENV_MODE, "thread")
        assert writer_process.usable() is False


def _job(out: Path, cache: Path, mode: str, strength: str = "0.7", cancel_after: int | None = None,
         fail_at: int | None = None, slow_delete: bool = False) -> dict:
    """run_job in a fresh process (no stray threads), frame writer ``mode``; what it wrote."""
    script = (
        "import json, sys, threading; from pathlib import Path\n"
        "from eamm_core.job import JobSpec\nfrom eamm_core.pipeline import run_job\n"
        "from eamm_core import writer_process\nfrom eamm_core.errors import EammError\n"
        "from eamm_core.engines.landmark import render as R\n"
        "fail_at = int(sys.argv[6]); calls = [0]; real = R.LandmarkRenderer.render\n"
        "def render(self, lm, **kw):\n"
        "    calls[0] += 1\n"
        "    if calls[0] == fail_at: raise EammError('the render broke at frame %d' % (fail_at - 1))\n"
        "    return real(self, lm, **kw)\n"
        "R.LandmarkRenderer.render = render\n"
        "import os, time, eamm_core.output as O\n"
        "if os.environ.get('SLOW_DELETE'):\n"
        "    real_rmtree = O.shutil.rmtree\n"
        "    O.shutil.rmtree = lambda *a, **k: (time.sleep(2.0), real_rmtree(*a, **k))\n"
        "cancel = threading.Event(); after = int(sys.argv[4])\n"
        "def progress(p):\n"
        "    if after >= 0 and p.stage == 'render' and p.done >= after: cancel.set()\n"
        "used = []\n"
        "orig = writer_process.WriterProcess.__init__\n"
        "def init(self, *a, **k): used.append(1); orig(self, *a, **k)\n"
        "writer_process.WriterProcess.__init__ = init\n"
        "try:\n"
        "    r = run_job(JobSpec(portrait=Path(sys.argv[5]) / 'astronaut.png', audio=Path(sys.argv[5]) / 'speech.wav',\n"
        "        emotion=Path(sys.argv[5]) / 'happy.npz', strength=float(sys.argv[3]), frame_end=30), Path(sys.argv[1]),\n"
        "        cache_dir=Path(sys.argv[2]), progress=progress, cancel=cancel)\n"
        "except EammError as exc:\n"
        "    print(json.dumps({'process': bool(used), 'error': str(exc)})); sys.exit(0)\n"
        "print(json.dumps({'process': bool(used), 'cancelled': r.cancelled, 'frames': r.frame_count,\n"
        "                  'mp4': str(r.mp4) if r.mp4 else None}))\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), writer_process.ENV_MODE: mode}
    if slow_delete:
        env["SLOW_DELETE"] = "1"
    proc = subprocess.run([sys.executable, "-c", script, str(out), str(cache), strength,
                           str(-1 if cancel_after is None else cancel_after), str(REPO / "samples"),
                           str(-1 if fail_at is None else fail_at)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_pipeline_frames_and_mp4_are_the_same_bytes_with_process_or_thread(tmp_path):
    cache = tmp_path / "cache"
    by_process = _job(tmp_path / "p", cache, "process")
    by_thread = _job(tmp_path / "t", cache, "thread")
    assert by_process["process"] is True and by_thread["process"] is False
    for res in (by_process, by_thread):
        assert res["frames"] == 30 and res["mp4"] and not res["cancelled"]
    names = sorted(p.name for p in (tmp_path / "p" / "frames").iterdir())
    assert len(names) == 30 and names == sorted(p.name for p in (tmp_path / "t" / "frames").iterdir())
    for name in names:
        assert (tmp_path / "p" / "frames" / name).read_bytes() == (tmp_path / "t" / "frames" / name).read_bytes()
    assert (tmp_path / "p" / "result.mp4").read_bytes() == (tmp_path / "t" / "result.mp4").read_bytes()


def test_pipeline_cancel_with_the_writer_process_keeps_frames_and_no_mp4(tmp_path):
    res = _job(tmp_path / "c", tmp_path / "cache", "process", cancel_after=5)
    assert res["process"] is True and res["cancelled"] is True and res["mp4"] is None
    frames = sorted((tmp_path / "c" / "frames").glob("frame_*.png"))
    assert 5 <= len(frames) < 30
    assert not (tmp_path / "c" / "result.mp4").exists()
    assert not list((tmp_path / "c").glob(".*.part.mp4"))  # the partial MP4 was removed by the child
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["state"] == "cancelled"


def test_pipeline_render_error_with_the_writer_process_is_the_error_raised_and_frames_stay(tmp_path):
    res = _job(tmp_path / "e", tmp_path / "cache", "process", fail_at=11)
    assert res["process"] is True and res["error"] == "the render broke at frame 10"
    frames = sorted(p.name for p in (tmp_path / "e" / "frames").glob("frame_*.png"))
    assert frames == [f"frame_{i:06d}.png" for i in range(10)]  # every frame rendered before the error
    assert not (tmp_path / "e" / "result.mp4").exists() and not list((tmp_path / "e").glob(".*.part.mp4"))
    manifest = json.loads((tmp_path / "e" / "manifest.json").read_text())
    assert manifest["state"] == "failed" and manifest["error"] == "the render broke at frame 10"


def test_old_frames_still_being_deleted_do_not_keep_the_job_off_the_writer_process(tmp_path):
    out, cache = tmp_path / "same", tmp_path / "cache"
    _job(out, cache, "process", strength="0.7")
    res = _job(out, cache, "process", strength="0.4", slow_delete=True)  # the old frames take 2 s to delete
    assert res["process"] is True and res["frames"] == 30 and res["mp4"]
    # the old frames are deleted by the end (beside the job's files: its folder lock and frames record)
    assert sorted(p.name for p in out.iterdir()) == [".eamm-lock", "frames", "frames-job.json", "manifest.json",
                                                      "result.mp4"]
