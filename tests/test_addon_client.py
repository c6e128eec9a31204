"""The add-on's urllib client against a real ``http.server`` on loopback (no bpy needed)."""

from __future__ import annotations

import socket
import sys
import zipfile
from pathlib import Path

import pytest

from blender_addon import client as client_mod
from blender_addon.client import Client, ClientError
from blender_addon.state import JobRecord, contiguous, extract_frames, frames_on_disk, progress_fraction, status_line

sys.path.insert(0, str(Path(__file__).parent / "blender"))
from fake_server import FakeServer


@pytest.fixture
def fake():
    with FakeServer("tok-123") as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_needs_no_token(fake):
    info = Client(fake.url, token="wrong").health()
    assert info["api_version"] == 1 and info["engines"]["landmark"] is True


def test_presets(fake):
    assert Client(fake.url, token="tok-123").presets() == ["happy", "sad"]
    with pytest.raises(ClientError, match="wrong token"):
        Client(fake.url, token="x").presets()


def test_upload_sends_a_real_multipart_body(fake, tmp_path):
    data = bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n"
    path = tmp_path / "voice “take 1”.wav"
    path.write_bytes(data)
    record = Client(fake.url, token="tok-123").upload(path, "audio")
    assert fake.state.upload_bodies[record["id"]] == data  # byte-exact, binary-safe
    assert record["size"] == len(data) and record["role"] == "audio"
    assert record["name"].endswith(".wav") and '"' not in record["name"]


def test_wrong_token_is_one_clear_line(fake, tmp_path):
    with pytest.raises(ClientError) as err:
        Client(fake.url, token="nope").submit({"portrait": "x", "audio": "y"})
    assert err.value.kind == "token" and err.value.status == 401
    assert "wrong token" in str(err.value) and "preferences" in str(err.value) and "\n" not in str(err.value)


def test_token_is_read_from_the_token_file(fake, tmp_path, monkeypatch):
    token_file = tmp_path / "eamm" / "token"
    token_file.parent.mkdir()
    token_file.write_text("tok-123\n")
    monkeypatch.setenv("EAMM_TOKEN_FILE", str(token_file))
    c = Client(fake.url)
    assert (c.token, c.token_source) == ("tok-123", str(token_file))
    path = tmp_path / "p.png"
    path.write_bytes(b"png")
    assert c.upload(path, "portrait")["id"]
    monkeypatch.setenv("EAMM_TOKEN_FILE", str(tmp_path / "later"))
    late = Client(fake.url)  # made before the server wrote its token file (Start server, --start-server)
    with pytest.raises(ClientError, match="missing"):
        late.upload(path, "portrait")
    (tmp_path / "later").write_text("tok-123")
    assert late.upload(path, "portrait")["id"]


def test_token_file_location_follows_the_server_contract(monkeypatch, tmp_path):
    monkeypatch.delenv("EAMM_TOKEN_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert client_mod.token_file() == tmp_path / "eamm" / "token"
    assert client_mod.find_token("  explicit ") == ("explicit", "the add-on preferences")


def test_422_passes_the_servers_message(fake, tmp_path):
    fake.state.reject_role["portrait"] = "no face found in cat.png: use a photo with one visible face"
    path = tmp_path / "cat.png"
    path.write_bytes(b"meow")
    with pytest.raises(ClientError) as err:
        Client(fake.url, token="tok-123").upload(path, "portrait")
    assert str(err.value) == "no face found in cat.png: use a photo with one visible face"
    assert err.value.kind == "input" and err.value.status == 422


def test_connection_refused_says_how_to_start_the_server():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ClientError) as err:
        Client(url, token="t").health()
    assert err.value.kind == "not_running"
    assert str(err.value) == (f"eamm-server is not running at {url}: start it with the Start server button "
                              "or `eamm-server`")


def test_not_an_eamm_server(fake):
    c = Client(fake.url, token="tok-123")
    with pytest.raises(ClientError, match="did not answer with JSON"):
        c._json("GET", "/not-json")


def test_missing_upload_file_is_an_input_error(fake, tmp_path):
    with pytest.raises(ClientError, match="cannot read the audio file") as err:
        Client(fake.url, token="tok-123").upload(tmp_path / "gone.wav", "audio")
    assert err.value.kind == "input"


def test_submit_poll_download_extract(fake, tmp_path):
    c = Client(fake.url, token="tok-123")
    ids = {}
    for role in ("portrait", "audio"):
        p = tmp_path / f"{role}.bin"
        p.write_bytes(role.encode())
        ids[role] = c.upload(p, role)["id"]
    status = c.submit({"portrait": ids["portrait"], "audio": ids["audio"], "frame_start": 3, "frame_end": 9})
    assert status["state"] == "queued" and status_line(status).startswith("queued")
    first = c.status(status["id"])
    assert first["state"] == "running" and 0 < progress_fraction(first) < 1
    assert "render 3/6 (50%)" in status_line(first)
    assert c.status(status["id"])["state"] == "done"
    zip_path = c.frames_zip(status["id"], tmp_path / "out" / "frames.zip")
    numbers = extract_frames(zip_path, tmp_path / "out" / "frames")
    assert numbers == [3, 4, 5, 6, 7, 8]  # the ../evil.png member is not a frame and is not written
    assert not (tmp_path / "out" / "evil.png").exists()
    assert (tmp_path / "out" / "frames" / "frame_000005.png").read_bytes().startswith(b"\x89PNG")
    assert frames_on_disk(tmp_path / "out" / "frames") == numbers


def test_cancel(fake, tmp_path):
    c = Client(fake.url, token="tok-123")
    p = tmp_path / "a"
    p.write_bytes(b"a")
    uid = c.upload(p, "portrait")["id"]
    fake.state.uploads[uid]["role"] = "audio"
    job = c.submit({"portrait": uid, "audio": uid})
    assert c.cancel(job["id"])["state"] == "cancelled"


def test_status_line_and_progress():
    assert progress_fraction({"state": "done"}) == 1.0
    assert progress_fraction({"state": "running", "frames_total": 0}) == 0.0
    assert status_line({"state": "failed", "error": "no face found in x.png"}) == "failed: no face found in x.png"
    line = status_line({"state": "running", "stage": "render", "frames_done": 1, "frames_total": 4, "eta_s": 2.4,
                        "cached": ["prepare"]})
    assert line == "running · render 1/4 (25%) · ETA 2 s · cached: prepare"


def test_extract_rejects_non_zip(tmp_path):
    bad = tmp_path / "frames.zip"
    bad.write_bytes(b"nope")
    with pytest.raises(Exception, match="not a zip"):
        extract_frames(bad, tmp_path / "f")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(Exception, match="no frame_NNNNNN.png"):
        extract_frames(empty, tmp_path / "f")


def test_contiguous_and_job_record(tmp_path):
    assert contiguous([4, 5, 6, 8, 9]) == range(4, 7)
    assert contiguous([]) == range(0)
    rec = JobRecord("j_1", "http://127.0.0.1:1", 0, 50, "speech", [0, 1])
    rec.save(tmp_path)
    assert JobRecord.load(tmp_path) == rec
    assert JobRecord.load(tmp_path / "nowhere") is None


def test_streamed_upload_reports_bytes_and_can_be_abandoned(fake, tmp_path):
    import threading

    data = bytes(range(256)) * 4096  # 1 MiB: several chunks
    path = tmp_path / "big.wav"
    path.write_bytes(data)
    seen = []
    record = Client(fake.url, token="tok-123").upload(path, "audio", progress=lambda sent, size: seen.append((sent, size)))
    assert fake.state.upload_bodies[record["id"]] == data
    assert len(seen) == 4 and seen[-1] == (len(data), len(data)) and seen == sorted(seen)
    abort = threading.Event()
    before = len(fake.state.uploads)

    def stop_after_first(sent, size):
        abort.set()

    with pytest.raises(client_mod.Abandoned):
        Client(fake.url, token="tok-123").upload(path, "portrait", progress=stop_after_first, abort=abort)
    assert len(fake.state.uploads) == before  # the server got no complete upload


def test_streamed_download_to_disk_reports_bytes_and_abandons_cleanly(fake, tmp_path):
    import threading

    c = Client(fake.url, token="tok-123")
    ids = {}
    for role in ("portrait", "audio"):
        p = tmp_path / f"{role}.bin"
        p.write_bytes(role.encode())
        ids[role] = c.upload(p, role)["id"]
    job = c.submit({"portrait": ids["portrait"], "audio": ids["audio"], "frame_start": 0, "frame_end": 40})
    seen = []
    dest = c.frames_zip(job["id"], tmp_path / "f.zip", progress=lambda got, total: seen.append((got, total)))
    assert seen and seen[-1] == (dest.stat().st_size, dest.stat().st_size)
    abort = threading.Event()
    abort.set()
    with pytest.raises(client_mod.Abandoned):
        c.frames_zip(job["id"], tmp_path / "g.zip", abort=abort)
    assert not (tmp_path / "g.zip").exists() and not (tmp_path / "g.zip.part").exists()


def test_a_host_refusal_is_not_called_a_wrong_token():
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Refuse(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = json.dumps({"detail": "host 'evil.example' is not allowed: connect to 127.0.0.1 or localhost",
                               "field": None}).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ClientError) as err:
            Client(f"http://127.0.0.1:{httpd.server_address[1]}", token="t").status("j_1")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert err.value.kind == "host" and "wrong token" not in str(err.value)
    assert "refused the host name" in str(err.value) and "127.0.0.1 or localhost" in str(err.value)
