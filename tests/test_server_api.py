"""``eamm-server`` driven over HTTP: a real uvicorn process on a free loopback port (no mocks).

One server serves the whole module (starting one costs seconds); jobs are real landmark-engine
jobs on 1-2 s of the sample speech (``samples/speech.wav``) with the sample face, so each stays cheap
on a small CPU.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from conftest import SAMPLE_SPEECH
from PIL import Image
from server_harness import ServerProcess, cut_wav, find_runner, repeat_wav, upload, wait_for_frames, wait_for_state

MAX_UPLOAD_MB = 2
DUMMY = {"job_id": "j_" + "0" * 20, "n": "0", "upload_id": "0" * 64}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("srv") / "data", token_file=tmp_path_factory.mktemp("cfg") / "token",
                           args=["--max-upload-mb", str(MAX_UPLOAD_MB)])
    server.start()
    yield server
    server.cleanup()
    assert "Traceback" not in server.log(), server.log()[-3000:]


@pytest.fixture(scope="module")
def client(srv):
    with srv.client() as c:
        yield c


@pytest.fixture(scope="module")
def inputs(srv, client, tmp_path_factory, sample_face_png, sample_clip):
    """Upload ids of the sample face, 1.2 s, 4 s and 20 s of speech, and an emotion clip."""
    folder = tmp_path_factory.mktemp("inputs")
    speech = SAMPLE_SPEECH
    return {
        "portrait": upload(client, sample_face_png, "portrait")["id"],
        "audio": upload(client, cut_wav(speech, folder / "short.wav", 1.2), "audio")["id"],
        "audio_long": upload(client, cut_wav(speech, folder / "long.wav", 4.0), "audio")["id"],
        "audio_20s": upload(client, repeat_wav(speech, folder / "20s.wav", 3), "audio")["id"],
        "emotion": upload(client, sample_clip, "emotion")["id"],
    }


def routes(client) -> list[tuple[str, str]]:
    schema = client.get("/openapi.json").json()
    found = []
    for path, ops in schema["paths"].items():
        for method in ops:
            url = path
            for name, value in DUMMY.items():
                url = url.replace("{" + name + "}", value)
            found.append((method.upper(), url))
    return found


# --- auth, host, limits ---------------------------------------------------------------------------

def test_health_needs_no_token_and_describes_the_server(srv):
    r = httpx.get(f"{srv.url}/health")
    assert r.status_code == 200
    body = r.json()
    assert body["api_version"] == 1 and body["server_version"] and isinstance(body["device"], str) and body["device"]
    assert body["engines"]["landmark"] is True


def test_every_route_but_health_needs_the_token(srv, client):
    found = routes(client)
    paths = {p for _, p in found}
    assert len(found) >= 14 and "/v1/uploads" in paths and "/v1/jobs" in paths
    bad_headers = [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {srv.token}"},
                   {"Authorization": f"Bearer {srv.token}x"}, {"Authorization": "Bearer"},
                   {"Authorization": srv.token}, {"X-Token": srv.token}]
    for method, path in found + [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/no/such/route")]:
        for headers in bad_headers:
            r = httpx.request(method, srv.url + path, headers=headers)
            expected = 200 if path == "/health" else 401
            assert r.status_code == expected, (method, path, headers, r.status_code, r.text)
            if expected == 401:
                assert r.json()["detail"].startswith("missing or wrong token")


def test_foreign_host_header_is_refused(srv):
    for host in ("evil.example", f"evil.example:{srv.port}", f"127.0.0.1.evil.example:{srv.port}",
                 f"localhost.:{srv.port}", f"0.0.0.0:{srv.port}"):
        for path in ("/health", "/v1/jobs"):
            r = httpx.get(srv.url + path, headers={**srv.headers, "Host": host})
            assert r.status_code == 403, (host, path, r.text)
    for host in (f"localhost:{srv.port}", f"127.0.0.1:{srv.port}", "localhost"):
        assert httpx.get(srv.url + "/v1/jobs", headers={**srv.headers, "Host": host}).status_code == 200
    for host in ("localhost:9000", "127.0.0.1:9000", "[::1]:9000"):  # an SSH tunnel's local port
        assert httpx.get(srv.url + "/v1/jobs", headers={**srv.headers, "Host": host}).status_code == 200


def test_oversized_uploads_are_refused_before_being_read(srv, client):
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_UPLOAD_MB * 1024 * 1024 + 10)
    r = client.post("/v1/uploads", params={"role": "portrait"}, files={"file": ("big.png", big)})
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def chunks():  # no Content-Length: counted while it streams
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\n"
        for _ in range(MAX_UPLOAD_MB * 4 + 2):
            yield b"\0" * 262144
    r = client.post("/v1/uploads", params={"role": "portrait"}, content=chunks(),
                    headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413
    r = client.post("/v1/jobs", content=b"{" + b" " * (17 * 1024 * 1024) + b"}",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert client.get("/v1/jobs").status_code == 200  # still serving


def test_malformed_uploads_get_a_clear_422(srv, client, tmp_path, sample_face_png):
    wav = cut_wav(SAMPLE_SPEECH, tmp_path / "a.wav", 0.5)
    png = sample_face_png.read_bytes()
    cases = [
        ("portrait", "empty.png", b"", "empty"),
        ("portrait", "notes.png", b"just some text, not an image\n", "not a supported"),
        ("portrait", "speech.png", wav.read_bytes(), "a portrait upload must be image"),
        ("portrait", "cut.png", png[: len(png) // 3], "cut.png"),
        ("audio", "half.wav", wav.read_bytes()[:30], "half.wav"),
        ("pose", "pose.csv", b"1,2,3\n4,5,6\n", "pose"),
        ("emotion", "face.mp4", png, "emotion upload must be"),
    ]
    for role, name, data, words in cases:
        r = client.post("/v1/uploads", params={"role": role}, files={"file": (name, data)})
        assert r.status_code == 422, (name, r.status_code, r.text)
        body = r.json()
        assert body["field"] == "file" and words in body["detail"] and "\n" not in body["detail"], body
    r = client.post("/v1/uploads", params={"role": "portrait"}, content=b"--x\r\ngarbage",
                    headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert 400 <= r.status_code < 500
    r = client.post("/v1/uploads", params={"role": "portrait"}, files={"other": ("a.png", png)})
    assert r.status_code == 422 and r.json()["field"] == "file"
    r = client.post("/v1/uploads", params={"role": "face"}, files={"file": ("a.png", png)})
    assert r.status_code == 422 and r.json()["field"] == "role"


def test_same_content_is_stored_once_whatever_its_name(srv, client, sample_face_png):
    png = sample_face_png.read_bytes()
    first = client.post("/v1/uploads", params={"role": "portrait"}, files={"file": ("a.jpg", png)}).json()
    second = client.post("/v1/uploads", params={"role": "portrait"}, files={"file": ("b.txt", png)}).json()
    assert first["id"] == second["id"] and first["kind"] == "image"
    stored = [p for p in (srv.data_dir / "uploads").iterdir() if p.name.startswith(first["id"])]
    assert sorted(p.suffix for p in stored) == [".json", ".png"]  # named by content, not by the client


def test_path_traversal_in_every_string_field_is_harmless(srv, client, inputs, sample_face_png):
    evil = ["../../../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/passwd", "%2e%2e%2f%2e%2e%2fetc",
            "....//....//etc", "j_../../x", "a/../../" + "0" * 56, "\x00", "~/.ssh/id_rsa"]
    base = {"portrait": inputs["portrait"], "audio": inputs["audio"]}
    for field in ("portrait", "audio", "emotion", "emotion_neutral", "pose_file", "emotion_preset", "model"):
        for value in evil:
            r = client.post("/v1/jobs", json={**base, field: value})
            assert r.status_code == 422 and r.json()["field"] == field, (field, value, r.text)
    for raw in evil:
        value, quoted = raw.replace("\x00", "%00"), quote(raw, safe="")
        for path in (f"/v1/jobs/{value}", f"/v1/jobs/{quoted}", f"/v1/uploads/{value}", f"/v1/uploads/{quoted}",
                     f"/v1/jobs/{quoted}/frames/0", f"/v1/jobs/{quoted}/frames.zip", f"/v1/jobs/{value}/video",
                     f"/v1/jobs/{quoted}/manifest", f"/v1/jobs/{quoted}/events"):
            r = client.get(path)
            assert r.status_code in (404, 422), (path, r.status_code, r.text)
    r = client.post("/v1/uploads", params={"role": "portrait"},
                    files={"file": ("../../../escape.png", sample_face_png.read_bytes())})
    assert r.status_code == 201 and r.json()["name"] == "escape.png"
    assert not list(srv.data_dir.parent.rglob("escape.png")) and not Path("/escape.png").exists()


def test_job_requests_are_checked_before_queueing(client, inputs):
    base = {"portrait": inputs["portrait"], "audio": inputs["audio"]}
    cases = [
        ({"audio": inputs["audio"]}, "portrait"),
        ({**base, "colour": "red"}, "colour"),
        ({**base, "portrait": inputs["audio"]}, "portrait"),  # an audio upload is not a portrait
        ({**base, "strength": "strong"}, "strength"),
        ({**base, "strength": [1.0, 99.0]}, "strength"),
        ({**base, "seed": -1}, "seed"),
        ({**base, "seed": 1.5}, "seed"),
        ({**base, "frame_end": 1000}, "frame_end"),
        ({**base, "frame_start": 29}, "frame_start"),
        ({**base, "pose": [[0, 0, 0, 0.0005, 63, 72], [1, 2]]}, "pose"),
        ({**base, "pose": [[200, 0, 0, 0.0005, 63, 72]]}, "pose"),
        ({**base, "engine": "magic"}, "engine"),
        ({**base, "emotion": inputs["emotion"], "emotion_preset": "happy"}, "emotion_preset"),
        ({**base, "emotion_neutral": inputs["emotion"]}, "emotion_neutral"),
        ({**base, "outputs": ["gif"]}, "outputs"),
        ({**base, "paste_back": "yes"}, "paste_back"),
    ]
    before = len(client.get("/v1/jobs").json()["jobs"])
    for body, field in cases:
        r = client.post("/v1/jobs", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field and field in r.json()["detail"], (body, r.json())
    assert len(client.get("/v1/jobs").json()["jobs"]) == before  # nothing was queued
    assert client.post("/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422


# --- real jobs ------------------------------------------------------------------------------------

def read_events(srv, job_id: str, timeout: float = 300.0) -> list[dict]:
    events = []
    with httpx.stream("GET", f"{srv.url}/v1/jobs/{job_id}/events", headers=srv.headers, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_full_job_with_progress_stream_and_every_result(srv, client, inputs):
    r = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio"],
                                      "emotion": inputs["emotion"], "strength": 1.0, "seed": 3})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and job["frames_total"] == 29 and job["id"].startswith("j_")
    events = read_events(srv, job["id"])
    assert events[-1]["state"] == "done", events[-1]
    done_counts = [e["frames_done"] for e in events]
    assert done_counts == sorted(done_counts) and done_counts[-1] == 29
    assert any(e["state"] == "running" for e in events)
    status = client.get(f"/v1/jobs/{job['id']}").json()
    assert status["outputs"] == {"frames": True, "mp4": True} and status["error"] is None
    frame = client.get(f"/v1/jobs/{job['id']}/frames/5")
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    assert np.asarray(Image.open(io.BytesIO(frame.content))).shape == (256, 256, 3)  # size auto, a 256 px picture
    assert client.get(f"/v1/jobs/{job['id']}/frames/29").status_code == 404
    z = client.get(f"/v1/jobs/{job['id']}/frames.zip", params={"start": 3, "end": 8})
    assert z.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(z.content)).namelist()
    assert names == [f"frame_{i:06d}.png" for i in range(3, 8)]
    video = client.get(f"/v1/jobs/{job['id']}/video")
    assert video.status_code == 200 and video.content[4:8] == b"ftyp" and len(video.content) > 5000
    manifest = client.get(f"/v1/jobs/{job['id']}/manifest").json()
    assert manifest["frame_count"] == 29 and manifest["seed"] == 3 and manifest["state"] == "done"
    assert job["id"] in [j["id"] for j in client.get("/v1/jobs").json()["jobs"]]

    again = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio"],
                                          "emotion": inputs["emotion"], "strength": [0.2] * 29, "seed": 3}).json()
    second = wait_for_state(client, again["id"])
    assert second["state"] == "done" and {"motion", "emotion"} <= set(second["cached"]), second
    assert client.delete(f"/v1/jobs/{again['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{again['id']}").status_code == 404
    assert not (srv.data_dir / "jobs" / again["id"]).exists()


def test_cancel_mid_job_keeps_frames_and_resume_finishes(srv, client, inputs):
    job = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio_20s"],
                                        "seed": 1, "frame_end": 400}).json()
    wait_for_frames(client, job["id"], 2)
    client.post(f"/v1/jobs/{job['id']}/cancel")
    status = wait_for_state(client, job["id"])
    assert status["state"] == "cancelled" and status["resumable"], status
    assert 2 <= status["frames_done"] < status["frames_total"] == job["frames_total"] == 400
    on_disk = sorted(p.name for p in (srv.data_dir / "jobs" / job["id"] / "out" / "frames").glob("frame_*.png"))
    assert on_disk == [f"frame_{i:06d}.png" for i in range(status["frames_done"])]
    assert client.get(f"/v1/jobs/{job['id']}/video").status_code == 404
    resumed = client.post(f"/v1/jobs/{job['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "queued"
    final = wait_for_state(client, job["id"])
    assert final["state"] == "done" and final["frames_done"] == job["frames_total"]
    assert client.post(f"/v1/jobs/{job['id']}/resume").status_code == 409


def test_twenty_clients_polling_while_a_job_runs(srv, client, inputs):
    job = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio_long"],
                                        "seed": 2, "outputs": ["frames"]}).json()
    errors, answered = [], [0] * 20
    stop = threading.Event()

    def poll(k):
        with srv.client(timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.get(f"/v1/jobs/{job['id']}")
                    if r.status_code != 200 or r.json()["id"] != job["id"]:
                        errors.append((r.status_code, r.text[:200]))
                    answered[k] += 1
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                time.sleep(0.05)

    threads = [threading.Thread(target=poll, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    try:
        final = wait_for_state(client, job["id"], timeout=600)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert errors == [] and min(answered) > 0
    assert final["state"] == "done" and final["frames_done"] == job["frames_total"] and final["outputs"]["mp4"] is False


def test_a_crashing_engine_fails_its_job_alone(srv, client, inputs):
    import os
    import signal

    job = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio_long"],
                                        "seed": 4, "outputs": ["frames"]}).json()
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("job runner processes are found through /proc (Linux)")
    os.kill(find_runner(client, srv.data_dir / "jobs" / job["id"], job["id"]), signal.SIGKILL)
    status = wait_for_state(client, job["id"])
    assert status["state"] == "failed" and "stopped unexpectedly" in status["error"] and status["resumable"]
    assert httpx.get(f"{srv.url}/health").status_code == 200
    other = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio"]}).json()
    assert wait_for_state(client, other["id"])["state"] == "done"


def test_file_errors_fail_the_job_and_the_server_keeps_serving(srv, client, inputs):
    blocker = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio_long"],
                                            "seed": 5, "outputs": ["frames"]}).json()
    victim = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio"], "seed": 6}).json()
    assert victim["state"] == "queued"  # one CPU worker: it waits for the blocker
    (srv.data_dir / "jobs" / victim["id"] / "out" / "frames").write_bytes(b"a file where the frames folder goes")
    client.post(f"/v1/jobs/{blocker['id']}/cancel")
    status = wait_for_state(client, victim["id"])
    assert status["state"] == "failed" and status["error"].startswith("could not read or write job files"), status
    assert "\n" not in status["error"]
    assert wait_for_state(client, blocker["id"])["state"] in ("cancelled", "done")
    assert httpx.get(f"{srv.url}/health").status_code == 200


def test_bundled_presets_are_listed_and_drive_a_job(client, inputs):
    names = {p["name"] for p in client.get("/v1/presets").json()["presets"]}
    assert {"happy", "sad", "disgusted"} <= names
    job = client.post("/v1/jobs", json={"portrait": inputs["portrait"], "audio": inputs["audio"],
                                        "emotion_preset": "sad", "strength": 1.0, "outputs": ["frames"]})
    assert job.status_code == 201, job.text
    final = wait_for_state(client, job.json()["id"], {"done", "failed"}, timeout=180)
    assert final["state"] == "done", final
    assert final["frames_done"] == final["frames_total"] > 0


def test_farm_stages_motion_caches_and_a_chunk_returns_only_its_frames(srv, client, inputs):
    base = {"portrait": inputs["portrait"], "audio": inputs["audio"], "strength": [0.4] * 29, "seed": 11}
    bad = client.post("/v1/jobs", json={**base, "stage": "render", "frame_start": 0, "frame_end": 10})
    assert bad.status_code == 422 and "frames only" in bad.json()["detail"]  # default outputs ask for an MP4
    assert client.post("/v1/jobs", json={**base, "stage": "assemble"}).status_code == 422

    motion = client.post("/v1/jobs", json={**base, "stage": "motion", "outputs": ["frames"]})
    assert motion.status_code == 201, motion.text
    status = wait_for_state(client, motion.json()["id"])
    assert status["state"] == "done" and status["frames_done"] == 0, status
    assert status["outputs"] == {"frames": False, "mp4": False}
    assert not list((srv.data_dir / "jobs" / status["id"] / "out").glob("frames/frame_*.png"))

    chunk = client.post("/v1/jobs", json={**base, "stage": "render", "frame_start": 10, "frame_end": 20,
                                          "outputs": ["frames"]}).json()
    status = wait_for_state(client, chunk["id"])
    assert status["state"] == "done" and "motion" in status["cached"], status  # the motion step's cache
    assert status["outputs"] == {"frames": True, "mp4": False}
    z = client.get(f"/v1/jobs/{chunk['id']}/frames.zip")
    assert zipfile.ZipFile(io.BytesIO(z.content)).namelist() == [f"frame_{i:06d}.png" for i in range(10, 20)]


def test_a_bad_size_is_refused_with_its_field(srv, client, inputs):
    base = {"portrait": inputs["portrait"], "audio": inputs["audio"]}
    for value in ("300", 512, "big", None):
        r = client.post("/v1/jobs", json={**base, "size": value})
        assert r.status_code == 422 and r.json()["field"] == "size", (value, r.text)
