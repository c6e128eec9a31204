"""A small HTTP client for eamm-server (standard library only: urllib, multipart built by hand).

Every failure is a :class:`ClientError` whose ``str`` is one line for a person and whose ``kind``
tells the UI what to offer (``"not_running"`` → a Start server button, ``"token"`` → preferences).
The API is described in docs/server.md.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8765"


class ClientError(Exception):
    """One-line error for the artist; ``kind`` is not_running, token, host, input, timeout, protocol or server."""

    def __init__(self, message: str, kind: str = "server", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status

    def __str__(self) -> str:
        return self.message


def token_file(platform: str | None = None) -> Path:
    """Where eamm-server keeps its token (``EAMM_TOKEN_FILE`` overrides): the same rule as
    server/config.py (docs/server.md)."""
    override = os.environ.get("EAMM_TOKEN_FILE")
    if override:
        return Path(override).expanduser()
    platform = platform or sys.platform
    if platform == "win32":
        base = _absolute_env("APPDATA") or Path.home() / "AppData" / "Roaming"
    elif platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = _absolute_env("XDG_CONFIG_HOME") or Path.home() / ".config"
    return base / "eamm" / "token"


def _absolute_env(name: str) -> Path | None:
    """An environment folder, or None when unset, empty or relative (the XDG spec: ignore those)."""
    value = os.environ.get(name, "")
    return Path(value) if value and os.path.isabs(value) else None


def find_token(explicit: str | None = None) -> tuple[str | None, str]:
    """The token to send and where it came from (the preference wins over the token file)."""
    if explicit and explicit.strip():
        return explicit.strip(), "the add-on preferences"
    path = token_file()
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None, str(path)
    return (text or None), str(path)


CHUNK = 256 * 1024


class Abandoned(Exception):
    """The caller gave up on a transfer (Cancel, unregister, another .blend loaded)."""


def _multipart_parts(field: str, filename: str) -> tuple[bytes, bytes, str]:
    """The multipart head and tail around one file's bytes, and the Content-Type."""
    boundary = "eamm-" + uuid.uuid4().hex
    safe = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "upload"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{safe}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode("ascii")
    return head, f"\r\n--{boundary}--\r\n".encode("ascii"), f"multipart/form-data; boundary={boundary}"


def _check(abort) -> None:
    if abort is not None and abort.is_set():
        raise Abandoned()


def _streamed_body(fh, head: bytes, tail: bytes, size: int, progress, abort):
    """Yield the multipart body in chunks read from ``fh``, reporting bytes sent; stops when abandoned."""
    yield head
    sent = 0
    while True:
        _check(abort)
        chunk = fh.read(CHUNK)
        if not chunk:
            break
        sent += len(chunk)
        if progress is not None:
            progress(sent, size)
        yield chunk
    yield tail


class Client:
    """eamm-server at ``base_url``; ``token`` None reads the token file."""

    def __init__(self, base_url: str = DEFAULT_URL, token: str | None = None, timeout: float = 10.0):
        self.base_url = (base_url or DEFAULT_URL).rstrip("/")
        self._explicit_token = token
        self.token, self.token_source = find_token(token)
        self.timeout = timeout

    # -- transport ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, body=None, content_type: str | None = None,
                 auth: bool = True, timeout: float | None = None, length: int | None = None,
                 sink=None) -> tuple[int, bytes, str]:
        """One request; ``sink(resp)`` (if given) reads the response itself and its result is returned
        in place of the body. ``body`` may be an iterable of chunks with ``length`` bytes in all."""
        req = urllib.request.Request(self.base_url + path, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        if length is not None:
            req.add_header("Content-Length", str(length))
        if auth and not self.token:  # a server started after this client writes its token file then
            self.token, self.token_source = find_token(self._explicit_token)
        if auth and self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                data = sink(resp) if sink is not None else resp.read()
                return resp.status, data, resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc) from None
        except Abandoned:
            raise
        except (urllib.error.URLError, OSError) as exc:
            raise self._network_error(exc) from None

    def _network_error(self, exc: Exception) -> ClientError:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return ClientError(f"eamm-server at {self.base_url} did not answer in time: it may be busy; "
                               "try again or restart it", "timeout")
        if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
            return ClientError(f"eamm-server is not running at {self.base_url}: start it with the Start server "
                               "button or `eamm-server`", "not_running")
        return ClientError(f"cannot reach eamm-server at {self.base_url} ({reason}): check the server URL in "
                           "the add-on preferences", "not_running")

    def _http_error(self, exc: urllib.error.HTTPError) -> ClientError:
        try:
            payload = json.loads(exc.read().decode("utf-8"))
            detail = payload.get("detail") if isinstance(payload, dict) else None
        except (ValueError, OSError, UnicodeDecodeError):
            detail = None
        if not isinstance(detail, str):  # every eamm-server error has a one-line detail (ErrorBody)
            detail = None
        if exc.code == 403 and str(detail or "").lower().startswith("host "):
            return ClientError(f"eamm-server at {self.base_url} refused the host name of the Server URL ({detail}): "
                               "use 127.0.0.1 or localhost in the Server URL (a tunnel's own port is fine), or "
                               "start the server with --allowed-host", "host", exc.code)
        if exc.code in (401, 403):
            where = self.token_source if self.token else f"{self.token_source} (missing)"
            return ClientError(f"wrong token for eamm-server at {self.base_url} (token from {where}): paste the "
                               "token from the server's token file into the add-on preferences", "token", exc.code)
        if exc.code in (400, 404, 409, 413, 422):
            return ClientError(str(detail or f"eamm-server refused the request (HTTP {exc.code})"), "input", exc.code)
        return ClientError(f"eamm-server failed (HTTP {exc.code}): {detail or exc.reason}; see the server's log",
                           "server", exc.code)

    def _json(self, method: str, path: str, payload=None, *, auth: bool = True) -> dict:
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        _, data, _ = self._request(method, path, body=body, content_type="application/json" if body else None,
                                   auth=auth)
        if not data:
            return {}
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            raise ClientError(f"{self.base_url}{path} did not answer with JSON: is this an eamm-server?",
                              "protocol") from None

    # -- API ---------------------------------------------------------------------------------
    def health(self) -> dict:
        info = self._json("GET", "/health", auth=False)
        if "api_version" not in info:
            raise ClientError(f"{self.base_url} is not an eamm-server (no api_version in /health)", "protocol")
        return info

    def presets(self) -> list[str]:
        """Names of the emotion presets bundled with the server (usable as ``emotion_preset``)."""
        return [p["name"] for p in self._json("GET", "/v1/presets").get("presets", []) if "name" in p]

    def upload(self, path: str | Path, role: str, progress=None, abort=None) -> dict:
        """Send one file, streamed from disk (``progress(sent, size)`` per chunk; ``abort`` an Event
        that abandons the upload with :class:`Abandoned`); returns the server's upload record."""
        path = Path(path)
        head, tail, ctype = _multipart_parts("file", path.name)
        query = urllib.parse.urlencode({"role": role})
        try:
            fh = open(path, "rb")
            size = os.fstat(fh.fileno()).st_size
        except OSError as exc:
            raise ClientError(f"cannot read the {role} file {path}: {exc.strerror or exc}; check the path",
                              "input") from None
        with fh:
            body = _streamed_body(fh, head, tail, size, progress, abort)
            raw = self._post_streamed(f"/v1/uploads?{query}", body, ctype, len(head) + size + len(tail))
        _check(abort)
        return json.loads(raw.decode("utf-8"))

    def _post_streamed(self, path: str, chunks, content_type: str, length: int) -> bytes:
        """POST a body sent chunk by chunk; a server that answers early (401, 403, 413) and closes the
        connection while the body is still going out is heard rather than reported as a broken pipe."""
        parts = urllib.parse.urlsplit(self.base_url)
        conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_type(parts.hostname, parts.port, timeout=max(self.timeout, 60.0))
        if not self.token:
            self.token, self.token_source = find_token(self._explicit_token)
        try:
            conn.putrequest("POST", (parts.path.rstrip("/") or "") + path)
            conn.putheader("Content-Type", content_type)
            conn.putheader("Content-Length", str(length))
            if self.token:
                conn.putheader("Authorization", f"Bearer {self.token}")
            conn.endheaders()
            try:
                for chunk in chunks:
                    conn.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the answer, if any, says why
            resp = conn.getresponse()
            if resp.status >= 400:
                raise self._http_error(urllib.error.HTTPError(self.base_url + path, resp.status, resp.reason,
                                                              resp.headers, resp))
            return resp.read()
        except (http.client.HTTPException, OSError) as exc:
            raise self._network_error(exc) from None
        finally:
            conn.close()

    def submit(self, job: dict) -> dict:
        return self._json("POST", "/v1/jobs", job)

    def status(self, job_id: str) -> dict:
        return self._json("GET", f"/v1/jobs/{urllib.parse.quote(job_id)}")

    def cancel(self, job_id: str) -> dict:
        return self._json("POST", f"/v1/jobs/{urllib.parse.quote(job_id)}/cancel")

    def frame(self, job_id: str, n: int) -> bytes:
        return self._request("GET", f"/v1/jobs/{urllib.parse.quote(job_id)}/frames/{int(n)}")[1]

    def frames_zip(self, job_id: str, dest: str | Path, start: int | None = None, end: int | None = None,
                   progress=None, abort=None) -> Path:
        """Download the job's frames as a zip to ``dest`` (half-open ``start``/``end`` 25 fps range),
        streamed to disk as it arrives (``progress(received, total or None)``; ``abort`` as in upload)."""
        query = urllib.parse.urlencode({k: v for k, v in (("start", start), ("end", end)) if v is not None})
        path = f"/v1/jobs/{urllib.parse.quote(job_id)}/frames.zip" + (f"?{query}" if query else "")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")

        def to_file(resp) -> int:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            received = 0
            with open(tmp, "wb") as fh:
                while True:
                    _check(abort)
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        return received
                    fh.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received, total)

        try:
            self._request("GET", path, timeout=max(self.timeout, 60.0), sink=to_file)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, dest)
        return dest
