"""blender_addon/bundled.py (standard library only): first-use setup of the bundled server from a payload,
detection of a partial or broken setup, replacement of an older version's; and the platform manifest."""

from __future__ import annotations

import json
import os
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from blender_addon import bundled

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import build_addon


def _zip(path: Path, members: dict[str, tuple[bytes, int]]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, (data, mode) in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)


@pytest.fixture
def payload(tmp_path, monkeypatch):
    folder = tmp_path / "payload"
    folder.mkdir()
    _zip(folder / "project.zip", {"server/__init__.py": (b"X = 1\n", 0o644)})
    _zip(folder / "tool-1.0-py3-none-any.whl", {
        "tool/__init__.py": (b"", 0o644),
        "tool/bin/ffmpeg": (b"#!/bin/sh\n", 0o755),
        "tool-1.0.data/purelib/extra.py": (b"Y = 2\n", 0o644),
        "tool-1.0.data/scripts/tool": (b"", 0o755),
    })
    meta = {"id": "0.1.0-abc", "project": "project.zip", "wheels": ["tool-1.0-py3-none-any.whl"]}
    (folder / "payload.json").write_text(json.dumps(meta))
    monkeypatch.setattr(bundled, "PAYLOAD", folder)
    bundled.info.cache_clear()
    yield meta
    bundled.info.cache_clear()


def test_setup_unpacks_once_with_a_marker(payload, tmp_path):
    user = tmp_path / "user"
    seen = []
    top = bundled.ensure(user, lambda part, line: seen.append(part))
    site = top / "site"
    assert top == user / "server-0.1.0-abc" and bundled.is_ready(user)
    assert (site / "server" / "__init__.py").read_text() == "X = 1\n"
    assert (site / "extra.py").read_text() == "Y = 2\n"  # a wheel's .data/purelib goes where pip puts it
    assert not (site / "tool-1.0.data").exists() and not (site / "tool").joinpath("..", "tool-1.0.data").exists()
    assert os.access(site / "tool" / "bin" / "ffmpeg", os.X_OK)  # the bundled ffmpeg stays executable
    assert seen and seen[-1] == pytest.approx(1.0)
    stamp = (top / bundled.MARKER).stat().st_mtime_ns
    assert bundled.ensure(user) == top and (top / bundled.MARKER).stat().st_mtime_ns == stamp  # not redone
    args = bundled.server_args(user, "/blender/python")
    assert args[:4] == ["/blender/python", "-I", "-S", str(top / "run_server.py")]
    assert "site.addsitedir" in (top / "run_server.py").read_text()


def test_a_partial_or_broken_setup_is_redone_and_an_old_version_removed(payload, tmp_path):
    user = tmp_path / "user"
    (user / "server-0.0.9-old" / "site").mkdir(parents=True)  # an older version of the extension
    (user / "server-0.1.0-abc.part" / "site").mkdir(parents=True)  # Blender closed while unpacking
    broken = user / "server-0.1.0-abc"
    (broken / "site").mkdir(parents=True)  # no marker: never completed
    assert not bundled.is_ready(user)
    top = bundled.ensure(user)
    assert sorted(p.name for p in user.iterdir()) == ["server-0.1.0-abc"]
    assert (top / "site" / "server" / "__init__.py").is_file() and bundled.is_ready(user)
    (top / bundled.MARKER).write_text("0.0.9-old")  # a marker of another payload: redone too
    assert not bundled.is_ready(user)
    bundled.ensure(user)
    assert bundled.is_ready(user)


def test_an_unsafe_member_is_refused(payload, tmp_path):
    _zip(bundled.PAYLOAD / "project.zip", {"../evil.py": (b"", 0o644)})
    with pytest.raises(ValueError, match="unsafe path"):
        bundled.ensure(tmp_path / "user")
    assert not (tmp_path / "evil.py").exists() and not bundled.is_ready(tmp_path / "user")


def test_no_payload_means_no_bundled_server(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled, "PAYLOAD", tmp_path / "missing")
    bundled.info.cache_clear()
    try:
        assert not bundled.available()
    finally:
        bundled.info.cache_clear()


def test_platform_manifest_names_its_platform():
    text = (REPO / "blender_addon" / "blender_manifest.toml").read_text(encoding="utf-8")
    manifest = tomllib.loads(build_addon.platform_manifest(text, "windows-x64"))
    assert manifest["platforms"] == ["windows-x64"]
    assert {k: v for k, v in manifest.items() if k != "platforms"} == tomllib.loads(text)


def test_an_unwritable_user_folder_says_so_in_one_line(payload, tmp_path):
    blocker = tmp_path / "user"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(bundled.AddonError, match=r"could not set up the bundled server in .*user .*free some space"):
        bundled.ensure(blocker)
