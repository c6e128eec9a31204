"""A tiny stand-in for eamm-server on loopback (stdlib ``http.server``), for client error-path tests.

It speaks the docs/server.md routes the add-on uses, checks the Bearer token, parses the multipart
upload for real, and makes frames as tiny valid PNGs. It is NOT the product server: tests that
generate for real start ``eamm-server`` (see conftest.py).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import io
import json
import struct
import threading
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def tiny_png(value: int) -> bytes:
    """A valid 2×2 grey PNG whose grey level is ``value``."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes([value % 256] * 2) for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class FakeState:
    def __init__(self, token: str, audio_frames: int = 50, polls_until_done: int = 2):
        self.token = token
        self.audio_frames = audio_frames
        self.polls_until_done = polls_until_done
        self.uploads: dict[str, dict] = {}
        self.upload_bodies: dict[str, bytes] = {}
        self.jobs: dict[str, dict] = {}
        self.job_requests: list[dict] = []
        self.reject_role: dict[str, str] = {}  # role -> 422 message
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-eamm/1"

    def log_message(self, *args):  # keep test output quiet
        pass

    @property
    def state(self) -> FakeState:
        return self.server.state  # type: ignore[attr-defined]

    def _send(self, code: int, payload=None, *, body: bytes | None = None, ctype="application/json"):
        data = body if body is not None else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.state.token}":
            return True
        self._send(401, {"detail": "missing or wrong token", "field": None})
        return False

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/health":
            return self._send(200, {"server_version": "fake", "api_version": 1,
                                    "engines": {"landmark": True, "neural": False}, "device": "cpu"})
        if url.path == "/not-json":
            return self._send(200, body=b"<html>", ctype="text/html")
        if not self._authorised():
            return None
        if url.path == "/v1/presets":
            return self._send(200, {"presets": [{"name": "happy"}, {"name": "sad"}]})
        if len(parts) == 3 and parts[:2] == ["v1", "jobs"]:
            return self._status(parts[2])
        if len(parts) == 4 and parts[3] == "frames.zip":
            return self._zip(parts[2], parse_qs(url.query))
        return self._send(404, {"detail": f"no route {url.path}", "field": None})

    def do_POST(self):
        url = urlparse(self.path)
        if not self._authorised():
            return None
        parts = url.path.strip("/").split("/")
        if url.path == "/v1/uploads":
            return self._upload(parse_qs(url.query).get("role", [""])[0])
        if url.path == "/v1/jobs":
            return self._submit(json.loads(self._body()))
        if len(parts) == 4 and parts[3] == "cancel":
            with self.state.lock:
                job = self.state.jobs[parts[2]]
                job["state"] = "cancelled"
            return self._send(200, job)
        return self._send(404, {"detail": f"no route {url.path}", "field": None})

    def _upload(self, role: str):
        raw = self._body()
        if len(raw) < int(self.headers.get("Content-Length") or 0):
            return None  # the client went away mid-body (an abandoned upload): nothing is stored, as a real server
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
        files = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
        if len(files) != 1:
            return self._send(422, {"detail": "file: send exactly one multipart field named file", "field": "file"})
        data = files[0].get_payload(decode=True)
        if role in self.state.reject_role:
            return self._send(422, {"detail": self.state.reject_role[role], "field": "file"})
        uid = hashlib.sha256(data).hexdigest()
        info = {"frames": self.state.audio_frames} if role == "audio" else {}
        record = {"id": uid, "role": role, "name": files[0].get_filename(), "size": len(data), "kind": "image",
                  "info": info, "warnings": []}
        self.state.uploads[uid] = record
        self.state.upload_bodies[uid] = data
        return self._send(201, record)

    def _submit(self, job: dict):
        for key in ("portrait", "audio"):
            if job.get(key) not in self.state.uploads:
                return self._send(422, {"detail": f"{key}: no {key} upload with id {job.get(key)!r}", "field": key})
        with self.state.lock:
            jid = f"j_{len(self.state.jobs) + 1:04d}"
            start, end = job.get("frame_start", 0), job.get("frame_end") or self.state.audio_frames
            status = {"id": jid, "state": "queued", "stage": "prepare", "frames_done": 0,
                      "frames_total": end - start, "frame_start": start, "fps": 25, "eta_s": None,
                      "warnings": [], "error": None, "outputs": {"frames": True, "mp4": False}, "cached": [],
                      "_polls": 0, "_end": end}
            self.state.jobs[jid] = status
            self.state.job_requests.append(job)
        return self._send(201, {k: v for k, v in status.items() if not k.startswith("_")})

    def _status(self, jid: str):
        with self.state.lock:
            job = self.state.jobs.get(jid)
            if job is None:
                return self._send(404, {"detail": f"no job {jid}", "field": None})
            if job["state"] in ("queued", "running"):
                job["_polls"] += 1
                done = min(job["frames_total"], job["_polls"] * job["frames_total"] // self.state.polls_until_done)
                job.update(state="running", stage="render", frames_done=done)
                if job["_polls"] >= self.state.polls_until_done:
                    job.update(state="done", stage="done", frames_done=job["frames_total"])
            return self._send(200, {k: v for k, v in job.items() if not k.startswith("_")})

    def _zip(self, jid: str, query: dict):
        job = self.state.jobs[jid]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n in range(job["frame_start"], job["_end"]):
                zf.writestr(f"frame_{n:06d}.png", tiny_png(n))
            zf.writestr("../evil.png", b"not a frame")
        return self._send(200, body=buf.getvalue(), ctype="application/zip")


class FakeServer:
    """``with FakeServer("tok") as fake: fake.url`` — serves on a free loopback port in a thread."""

    def __init__(self, token: str = "secret-token", **kw):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.state = FakeState(token, **kw)  # type: ignore[attr-defined]
        self.state: FakeState = self.httpd.state  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
