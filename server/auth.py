"""The token file and the guard in front of every route.

:class:`Guard` is plain ASGI middleware, run before routing, so nothing is read or parsed for a
request that fails it. In order: the ``Host`` header must be one of the bound loopback names
(a web page reaching the server by DNS rebinding sends its own host name; loopback names are
accepted at any port, for SSH tunnels) -> 403; every path but
``/health`` needs ``Authorization: Bearer <token>`` -> 401; a body larger than the route's limit
(``Content-Length`` checked up front, chunked bodies counted while they stream) -> 413.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import stat
from pathlib import Path

from server.config import host_allowed

log = logging.getLogger("eamm.server")

PUBLIC_PATHS = frozenset({"/health"})
UPLOAD_PATH = "/v1/uploads"


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The token stored in ``path`` (created with 0600 permissions when absent); returns
    ``(token, created)``. A token file readable by others is tightened to 0600 with a warning."""
    path = Path(path)
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if os.name == "posix" and mode & 0o077:
            log.warning("token file %s was readable by others (mode %o); setting it to 0600", path, mode)
            os.chmod(path, 0o600)
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token, False
        log.warning("token file %s holds no usable token; making a new one", path)
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token, True


async def _send_error(send, status: int, detail: str, extra_headers: list | None = None) -> None:
    body = json.dumps({"detail": detail, "field": None}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra_headers or [])})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: Host check, bearer token, request body size limits."""

    def __init__(self, app, *, token: str, allowed_hosts: frozenset[str], max_upload: int, max_json: int):
        self.app = app
        self.token = token.encode()
        self.allowed_hosts = allowed_hosts
        self.max_upload = max_upload
        self.max_json = max_json

    def _header(self, scope, name: bytes) -> bytes | None:
        for key, value in scope.get("headers", []):
            if key.lower() == name:
                return value
        return None

    def _authorised(self, scope) -> bool:
        value = self._header(scope, b"authorization") or b""
        scheme, _, given = value.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        host = (self._header(scope, b"host") or b"").decode("latin-1").lower()
        if not host_allowed(host, self.allowed_hosts):
            await _send_error(send, 403, f"host {host[:80]!r} is not allowed: connect to 127.0.0.1 or localhost")
            return
        if scope["path"] not in PUBLIC_PATHS and not self._authorised(scope):
            await _send_error(send, 401, "missing or wrong token: send 'Authorization: Bearer <token>' "
                              "with the token from the server's token file",
                              [(b"www-authenticate", b"Bearer")])
            return
        limit = self.max_upload if scope["path"] == UPLOAD_PATH else self.max_json
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope, receive, send, limit: int) -> None:
        length = self._header(scope, b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                await _send_error(send, 400, "malformed Content-Length header")
                return
            if too_big:
                await _send_error(send, 413, f"request body too large: the limit is {limit} bytes")
                return
        state = {"seen": 0, "started": False, "refused": False}

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request" and not state["refused"]:
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        state["started"] = True
                        await _send_error(send, 413, f"request body too large: the limit is {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if state["refused"]:
                return  # the 413 has been sent; whatever the app says after it is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise
