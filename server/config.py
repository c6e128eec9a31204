"""Server settings (a frozen dataclass), default folders and the loopback rules."""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MiB = 1024 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServerConfig:
    """Everything the app needs to know; built by :func:`server.main.main` or by tests."""

    data_dir: Path
    token_file: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    allow_remote: bool = False
    extra_hosts: tuple[str, ...] = ()
    max_upload_bytes: int = 1024 * MiB
    max_json_bytes: int = 16 * MiB
    devices: tuple[str, ...] | None = None  # None = detect (every GPU, else "cpu")
    cache_dir: Path | None = None  # None = <data_dir>/cache

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def job_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"


def _absolute_env(name: str) -> Path | None:
    """An environment folder, or None when unset, empty or relative (the XDG spec: ignore those)."""
    value = os.environ.get(name, "")
    return Path(value) if value and os.path.isabs(value) else None


def user_config_dir(platform: str | None = None) -> Path:
    """The per-user config folder: ~/.config (XDG), ~/Library/Application Support, %APPDATA%.

    The token-file rule is kept identical in eamm_app/api.py and blender_addon/client.py
    (tests/test_token_file_rule.py drives all three with one table)."""
    platform = platform or sys.platform
    if platform == "win32":
        return _absolute_env("APPDATA") or Path.home() / "AppData" / "Roaming"
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    return _absolute_env("XDG_CONFIG_HOME") or Path.home() / ".config"


def default_token_file(platform: str | None = None) -> Path:
    override = os.environ.get("EAMM_TOKEN_FILE")
    return Path(override).expanduser() if override else user_config_dir(platform) / "eamm" / "token"


def default_data_dir() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "eamm" / "server"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _with_port(names: list[str], port: int) -> set[str]:
    out = set()
    for name in names:
        shown = f"[{name}]" if ":" in name and not name.startswith("[") else name
        out.update({shown.lower(), f"{shown}:{port}".lower()})
    return out


def allowed_host_headers(config: ServerConfig) -> frozenset[str]:
    """Host header values accepted as written (DNS-rebinding guard): loopback names, with or without
    the server's port; with ``allow_remote`` also the bound host and any ``extra_hosts``.
    :func:`host_allowed` also takes the loopback names at any other port (an SSH tunnel)."""
    names = list(LOOPBACK_NAMES)
    if config.allow_remote:
        names += [config.host, *config.extra_hosts]
    return frozenset(_with_port(names, config.port))


_LOOPBACK_HEADER_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """True for a ``Host`` header value in ``allowed``, or a loopback name at any port: a tunnel
    (``ssh -L 9000:localhost:8765``) keeps the client's port in the header, while a DNS-rebinding
    page names a foreign host, which stays refused."""
    if host in allowed:
        return True
    name, sep, port = host.rpartition(":")
    return (bool(sep) and name in _LOOPBACK_HEADER_NAMES and port.isascii() and port.isdigit()
            and len(port) <= 5 and 0 < int(port) < 65536)
