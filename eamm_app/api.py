"""HTTP client of ``eamm-server`` for the app (blocking; call it from worker threads only)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

DEFAULT_URL = "http://127.0.0.1:8765"
FINAL_STATES = ("done", "failed", "cancelled", "interrupted")


class ApiError(Exception):
    """One line for a person, with the HTTP status and the field at fault when the server named one."""

    def __init__(self, message: str, status: int | None = None, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


def default_token_file(platform: str | None = None) -> Path:
    """Where ``eamm-server`` keeps its token: the same rule as server/config.py (docs/server.md)."""
    env = os.environ.get("EAMM_TOKEN_FILE")
    if env:
        return Path(env).expanduser()
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


def read_token(path: Path | None = None) -> str:
    path = path or default_token_file()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


@dataclass
class Health:
    server_version: str
    api_version: int
    engines: dict
    device: str


class ApiClient:
    """Thin wrapper of the v1 routes; every failure becomes :class:`ApiError`."""

    def __init__(self, url: str = DEFAULT_URL, token: str = "", timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=self._headers())

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(f"eamm-server is not reachable at {self.url} ({type(exc).__name__}): start it, or let the app start one") from exc
        if response.status_code >= 400:
            raise self._error(response)
        return response

    @staticmethod
    def _error(response: httpx.Response) -> ApiError:
        try:
            body = response.json()
            detail, field = body.get("detail"), body.get("field")
        except ValueError:
            detail, field = response.text.strip()[:200], None
        if response.status_code == 401:
            detail = "the server refused the token: check Settings > Token (the server's token file)"
        if not isinstance(detail, str):
            detail = str(detail)
        return ApiError(detail or f"HTTP {response.status_code}", response.status_code, field)

    def health(self) -> Health:
        body = self._request("GET", "/health").json()
        return Health(body.get("server_version", "?"), int(body.get("api_version", 0)), body.get("engines", {}), body.get("device", "?"))

    def upload(self, path: Path, role: str) -> dict:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ApiError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
        files = {"file": (path.name, data, "application/octet-stream")}
        return self._request("POST", "/v1/uploads", params={"role": role}, files=files, timeout=300).json()

    def presets(self) -> list[str]:
        return [p["name"] for p in self._request("GET", "/v1/presets").json().get("presets", [])]

    def create_job(self, job: dict) -> dict:
        return self._request("POST", "/v1/jobs", json=job).json()

    def job(self, job_id: str) -> dict:
        return self._request("GET", f"/v1/jobs/{job_id}").json()

    def jobs(self) -> list[dict]:
        return self._request("GET", "/v1/jobs").json().get("jobs", [])

    def cancel(self, job_id: str) -> dict:
        return self._request("POST", f"/v1/jobs/{job_id}/cancel").json()

    def resume(self, job_id: str) -> dict:
        return self._request("POST", f"/v1/jobs/{job_id}/resume").json()

    def delete(self, job_id: str) -> None:
        self._request("DELETE", f"/v1/jobs/{job_id}")

    def frame_png(self, job_id: str, index: int) -> bytes:
        return self._request("GET", f"/v1/jobs/{job_id}/frames/{int(index)}").content

    def download_video(self, job_id: str, dest: Path) -> Path:
        return self._download(f"/v1/jobs/{job_id}/video", dest)

    def download_frames_zip(self, job_id: str, dest: Path) -> Path:
        return self._download(f"/v1/jobs/{job_id}/frames.zip", dest)

    def _download(self, route: str, dest: Path) -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        try:
            with self._http.stream("GET", route, timeout=600) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response)
                with open(tmp, "wb") as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)
        except httpx.TransportError as exc:
            raise ApiError(f"download from {self.url} failed ({type(exc).__name__})") from exc
        except OSError as exc:
            raise ApiError(f"cannot write {dest}: {exc.strerror or exc}") from exc
        tmp.replace(dest)
        return dest
