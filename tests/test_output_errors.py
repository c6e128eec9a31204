"""Output-folder problems are the user's environment, not bugs: exit 2, one line
naming the folder and the fix (permission or space), and the manifest says ``failed`` with the reason.

Tests may run as root (containers), for whom chmod does not make a folder read-only, so permission and
space errors are injected where the OS would raise them (os.mkdir, tempfile.mkstemp)."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest

from eamm_core import output
from eamm_core.cli import main as cli_main

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "samples" / "astronaut.png"


def _generate(out: Path, audio: Path, tmp_path: Path, *extra: str) -> int:
    return cli_main(["generate", "--portrait", str(PORTRAIT), "--audio", str(audio), "--frame-end", "4",
                     "--quiet", "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *extra])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err and "Traceback" not in err, err
    return err


def test_out_naming_a_file(tmp_path, speech_1s, capsys):
    out = tmp_path / "taken.txt"
    out.write_text("not a folder")
    assert _generate(out, speech_1s, tmp_path) == 2
    err = _one_line(capsys)
    assert "taken.txt" in err and "not a folder" in err and "--out" in err
    assert out.read_text() == "not a folder"
    assert _generate(out / "sub", speech_1s, tmp_path) == 2  # a parent that is a file
    assert "taken.txt" in _one_line(capsys)


def _deny(monkeypatch, under: Path, code: int, *, after: list | None = None):
    """mkstemp/mkdir under ``under`` fail with ``code`` (once ``after[0]`` is true, if given)."""
    real_mkstemp, real_mkdir = tempfile.mkstemp, os.mkdir

    def active(p) -> bool:
        return (after is None or after[0]) and Path(p).resolve().is_relative_to(under.resolve())

    def mkstemp(*a, dir=None, **kw):
        if dir is not None and active(dir):
            raise OSError(code, os.strerror(code))
        return real_mkstemp(*a, dir=dir, **kw)

    def mkdir(p, *a, **kw):
        if active(p):
            raise OSError(code, os.strerror(code), str(p))
        return real_mkdir(p, *a, **kw)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "mkdir", mkdir)


def test_read_only_parent_and_read_only_out(tmp_path, speech_1s, capsys, monkeypatch):
    parent = tmp_path / "locked"
    parent.mkdir()
    _deny(monkeypatch, parent, errno.EACCES)
    assert _generate(parent / "new", speech_1s, tmp_path) == 2
    err = _one_line(capsys)
    assert "locked" in err and "permission" in err.lower() and "space" not in err
    (tmp_path / "ro").mkdir()
    monkeypatch.undo()
    _deny(monkeypatch, tmp_path / "ro", errno.EROFS)
    assert _generate(tmp_path / "ro", speech_1s, tmp_path) == 2
    err = _one_line(capsys)
    assert str(tmp_path / "ro") in err and "permission denied (read-only file system)" in err


@pytest.mark.parametrize("code,word", [(errno.EACCES, "permission"), (errno.ENOSPC, "space")])
def test_folder_failing_mid_run_is_a_job_error_recorded_in_the_manifest(code, word, tmp_path, speech_1s, capsys,
                                                                       monkeypatch):
    out = tmp_path / "out"
    broken = [False]
    real_write = output.FrameWriter.write

    def write(self, index, rgb):
        path = real_write(self, index, rgb)
        broken[0] = True  # the folder turns read-only (or full) after the first frame
        return path

    monkeypatch.setattr(output.FrameWriter, "write", write)
    _deny(monkeypatch, out, code, after=broken)
    assert _generate(out, speech_1s, tmp_path) == 2
    err = _one_line(capsys)
    assert "out" in err and word in err.lower()
    if word == "permission":
        assert "space" not in err.lower()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["state"] == "failed" and word in manifest["error"].lower()
    assert (out / "frames" / "frame_000000.png").is_file()
