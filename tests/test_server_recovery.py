"""Crash recovery: ``kill -9`` of the server (and of its job runner) mid-job, restart on the same
data folder, resume with no frame lost or duplicated and frames equal to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from conftest import SAMPLE_SPEECH
from PIL import Image
from server_harness import ServerProcess, find_runner, repeat_wav, upload, wait_for_frames, wait_for_state

# The landmark renderer makes a 256 px frame in a few ms: the job must be long (the sample speech 4
# times: about 27 s, 680 frames) for the kill to land while it is still rendering.
REPEATS = 4


def frames_of(job_dir) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted((job_dir / "out" / "frames").glob("frame_*.png"))}


@pytest.mark.skipif(not os.path.exists("/proc/self/cmdline"), reason="finds the job runner through /proc (Linux)")
def test_kill_9_mid_job_then_restart_and_resume(tmp_path, sample_face_png):
    data, token = tmp_path / "data", tmp_path / "token"
    audio = repeat_wav(SAMPLE_SPEECH, tmp_path / "speech.wav", REPEATS)
    srv = ServerProcess(data, token_file=token).start()
    try:
        with srv.client() as c:
            ids = {"portrait": upload(c, sample_face_png, "portrait")["id"],
                   "audio": upload(c, audio, "audio")["id"]}
            finished = c.post("/v1/jobs", json={**ids, "frame_end": 10}).json()
            assert wait_for_state(c, finished["id"])["state"] == "done"
            job = c.post("/v1/jobs", json={**ids, "seed": 7, "outputs": ["frames"]}).json()
            total = job["frames_total"]
            runner = find_runner(c, data / "jobs" / job["id"], job["id"])
            at_kill = wait_for_frames(c, job["id"], 3)
        srv.kill()  # kill -9 the server ...
        try:
            os.kill(runner, signal.SIGKILL)  # ... and its runner, mid-frame, as a power cut would
        except ProcessLookupError:
            pass
        before = frames_of(data / "jobs" / job["id"])
        assert 0 < len(before) < total, f"the job should have been stopped part-way ({at_kill})"

        srv.start()  # same data folder and token file
        with srv.client() as c:
            listed = {j["id"]: j for j in c.get("/v1/jobs").json()["jobs"]}
            assert set(listed) == {finished["id"], job["id"]}
            assert listed[finished["id"]]["state"] == "done"
            assert c.get(f"/v1/jobs/{finished['id']}/video").status_code == 200
            status = listed[job["id"]]
            assert status["state"] == "interrupted" and status["resumable"]
            assert status["frames_done"] == len(before)
            assert c.post(f"/v1/jobs/{job['id']}/resume").json()["state"] == "queued"
            final = wait_for_state(c, job["id"])
            assert final["state"] == "done" and final["frames_done"] == total, final

            again = c.post("/v1/jobs", json={**ids, "seed": 7, "outputs": ["frames"]}).json()
            assert wait_for_state(c, again["id"])["state"] == "done"
        resumed = frames_of(data / "jobs" / job["id"])
        assert list(resumed) == [f"frame_{i:06d}.png" for i in range(total)]  # contiguous, none twice
        leftovers = [p.name for p in (data / "jobs" / job["id"] / "out" / "frames").iterdir()
                     if not p.name.startswith("frame_") or not p.name.endswith(".png")]
        assert leftovers == []
        uninterrupted = frames_of(data / "jobs" / again["id"])
        assert list(uninterrupted) == list(resumed)
        for name, pixels in uninterrupted.items():
            assert np.array_equal(pixels, resumed[name]), name
    finally:
        srv.cleanup()


def test_graceful_stop_marks_the_running_job_interrupted(tmp_path, sample_face_png):
    data, token = tmp_path / "data", tmp_path / "token"
    audio = repeat_wav(SAMPLE_SPEECH, tmp_path / "speech.wav", REPEATS)
    srv = ServerProcess(data, token_file=token).start()
    try:
        with srv.client() as c:
            ids = {"portrait": upload(c, sample_face_png, "portrait")["id"],
                   "audio": upload(c, audio, "audio")["id"]}
            job = c.post("/v1/jobs", json={**ids, "outputs": ["frames"]}).json()
            wait_for_frames(c, job["id"], 2)
        t0 = time.monotonic()
        assert srv.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
        assert time.monotonic() - t0 < 25
        srv.start()
        with srv.client() as c:
            status = c.get(f"/v1/jobs/{job['id']}").json()
            assert status["state"] == "interrupted" and 0 < status["frames_done"] < job["frames_total"], status
    finally:
        srv.cleanup()
