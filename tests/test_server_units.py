"""Fast checks of the server's building blocks (no server process): sniffing, token file,
atomic writes, loopback rules, request checks, the refusal of a non-loopback bind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server.auth import load_or_create_token
from server.config import ServerConfig, allowed_host_headers, is_loopback
from server.jobs import JobManager, JobRecord
from server.sniff import sniff
from server.store import atomic_write_json, read_json
from server.uploads import display_name

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("head, kind, ext", [
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image", "png"),
    (b"\xff\xd8\xff\xe0\0\x10JFIF", "image", "jpg"),
    (b"RIFF\x24\0\0\0WEBPVP8 ", "image", "webp"),
    (b"II*\0\x08\0\0\0", "image", "tif"),
    (b"RIFF\x24\0\0\0WAVEfmt ", "audio", "wav"),
    (b"fLaC\0\0\0\x22", "audio", "flac"),
    (b"OggS\0\x02", "audio", "ogg"),
    (b"ID3\x04\0\0", "audio", "mp3"),
    (b"\xff\xfb\x90\x64", "audio", "mp3"),
    (b"\0\0\0\x20ftypisom\0\0\x02\0", "video", "mp4"),
    (b"\0\0\0\x14ftypqt  \0\0\0\0", "video", "mov"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86", "video", "mkv"),
    (b"RIFF\x24\0\0\0AVI LIST", "video", "avi"),
    (b"\x93NUMPY\x01\0v\0{'descr'", "pose", "npy"),
    (b"PK\x03\x04\x14\0\0\0", "preset", "npz"),
    (b"yaw,pitch,roll,scale,tx,ty\n1,2,3,0.0005,63,72\n", "pose", "csv"),
    (b"0.1, 0.2, 0.3, 0.0005, 63, 72\n", "pose", "csv"),
])
def test_sniff_recognises_formats_by_content(head, kind, ext):
    found = sniff(head)
    assert found is not None and (found.kind, found.ext) == (kind, ext)


@pytest.mark.parametrize("head", [b"", b"<html><script>", b"#!/bin/sh\nrm -rf /\n", b"GIF89a\x01\0",
                                  b"hello, world\nthis is, text\n", b"\0\0\0\0\0\0\0\0", b"%PDF-1.7\n"])
def test_sniff_refuses_other_content(head):
    assert sniff(head) is None


def test_token_file_is_private_and_stable(tmp_path):
    path = tmp_path / "cfg" / "eamm" / "token"
    token, created = load_or_create_token(path)
    assert created and len(token) >= 32
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = load_or_create_token(path)
    assert (again, created_again) == (token, False)
    if os.name == "posix":
        os.chmod(path, 0o644)
        load_or_create_token(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "job.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2, "b": [1, 2]})
    assert read_json(target) == {"a": 2, "b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]


@pytest.mark.parametrize("host, expected", [("127.0.0.1", True), ("127.3.4.5", True), ("::1", True),
                                            ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                            ("192.168.1.4", False), ("example.com", False), ("::", False)])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_allowed_hosts_are_loopback_names_only(tmp_path):
    cfg = ServerConfig(data_dir=tmp_path, token_file=tmp_path / "t", port=8765)
    allowed = allowed_host_headers(cfg)
    for ok in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765", "localhost", "127.0.0.1"):
        assert ok in allowed
    for bad in ("evil.example:8765", "127.0.0.1.nip.io:8765", "localhost:80", "0.0.0.0:8765", ""):
        assert bad not in allowed
    remote = ServerConfig(data_dir=tmp_path, token_file=tmp_path / "t", host="10.0.0.5", port=9000,
                          allow_remote=True)
    assert "10.0.0.5:9000" in allowed_host_headers(remote)


def test_display_name_is_never_a_path():
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("C:\\Users\\x\\face.png") == "face.png"
    assert display_name("a\x00b\nc.wav") == "abc.wav"
    assert display_name(None) == "upload"


def test_job_ids_are_checked_before_any_path(tmp_path):
    manager = JobManager(tmp_path / "jobs")
    for bad in ("../x", "j_../../etc", "/etc/passwd", "j_" + "0" * 19 + "/", "..", "j_%2e%2e"):
        with pytest.raises(ValueError):
            manager.job_dir(bad)
    assert manager.job_dir("j_" + "a" * 20) == tmp_path / "jobs" / ("j_" + "a" * 20)


def test_restart_marks_running_jobs_interrupted_and_counts_frames(tmp_path):
    jobs = tmp_path / "jobs"
    running = JobRecord(id="j_" + "1" * 20, created="2026-01-01T00:00:01", frame_start=10, frames_total=5,
                        state="running", frames_done=1)
    queued = JobRecord(id="j_" + "2" * 20, created="2026-01-01T00:00:02", frame_start=0, frames_total=5)
    for rec in (running, queued):
        (jobs / rec.id / "out" / "frames").mkdir(parents=True)
        atomic_write_json(jobs / rec.id / "job.json", rec.__dict__)
    for i in (10, 11, 12, 99):  # frame 99 is outside the job's range
        (jobs / running.id / "out" / "frames" / f"frame_{i:06d}.png").write_bytes(b"png")
    manager = JobManager(jobs)
    status = manager.status(running.id)
    assert status["state"] == "interrupted" and status["resumable"] and status["frames_done"] == 3
    assert read_json(jobs / running.id / "job.json")["state"] == "interrupted"
    assert manager.status(queued.id)["state"] == "queued" and list(manager.queue) == [queued.id]
    assert [j["id"] for j in manager.list()] == [queued.id, running.id]


def test_non_loopback_bind_is_refused_without_allow_remote(tmp_path):
    env = {**os.environ, "EAMM_TOKEN_FILE": str(tmp_path / "token"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "server.main", "--host", "0.0.0.0", "--data", str(tmp_path / "d")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr and "--allow-remote" in proc.stderr
    assert not (tmp_path / "token").exists()  # refused before anything was made


def test_loopback_names_are_accepted_at_any_port_foreign_names_never(tmp_path):
    from server.config import host_allowed

    allowed = allowed_host_headers(ServerConfig(data_dir=tmp_path, token_file=tmp_path / "t", port=8765))
    for ok in ("127.0.0.1:9000", "localhost:9000", "[::1]:9000", "localhost:1", "127.0.0.1:65535", "localhost"):
        assert host_allowed(ok, allowed), ok
    for bad in ("evil.example:9000", "evil.example", "127.0.0.1.nip.io:9000", "localhost:0", "localhost:65536",
                "localhost:", "localhost:9000x", "::1:9000", "0.0.0.0:9000", "localhost.:9000", "localhost:९०००", ""):
        assert not host_allowed(bad, allowed), bad


def test_watch_stdin_stops_the_server_when_its_parent_goes(tmp_path):
    """A server started with --watch-stdin exits cleanly once its stdin closes (Blender killed)."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "EAMM_TOKEN_FILE": str(tmp_path / "token")}
    proc = subprocess.Popen([sys.executable, "-m", "server.main", "--port", str(port), "--data", str(tmp_path / "d"),
                             "--watch-stdin"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        proc.stdin.close()  # what the OS does when the parent dies
        assert proc.wait(timeout=15) == 0
        assert b"stdin closed" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
