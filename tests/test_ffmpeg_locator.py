"""The ffmpeg locator: the same binary imageio-ffmpeg would give, without importing it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eamm_core import ffmpeg


def test_finds_the_binary_imageio_ffmpeg_would_run(monkeypatch):
    import imageio_ffmpeg

    monkeypatch.delenv(ffmpeg.ENV_VAR, raising=False)
    assert ffmpeg.ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()


def test_explicit_environment_variable_wins(monkeypatch, tmp_path):
    exe = tmp_path / "my-ffmpeg"
    monkeypatch.setenv(ffmpeg.ENV_VAR, str(exe))
    assert ffmpeg.ffmpeg_exe() == str(exe)


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_bundled_binary_skips_files_that_cannot_run(tmp_path):
    binaries = tmp_path / "binaries"
    binaries.mkdir()
    (binaries / "README.md").write_text("not a binary")
    (binaries / "ffmpeg-a-not-executable").write_bytes(b"\0")
    assert ffmpeg.bundled_binary(tmp_path) is None
    good = binaries / "ffmpeg-b-linux"
    good.write_bytes(b"\0")
    good.chmod(0o755)
    assert ffmpeg.bundled_binary(tmp_path) == good
    assert ffmpeg.bundled_binary(tmp_path / "missing") is None


def test_locating_does_not_import_imageio_ffmpeg():
    env = {k: v for k, v in os.environ.items() if k != ffmpeg.ENV_VAR}
    code = ("import sys; from eamm_core.ffmpeg import ffmpeg_exe; exe = ffmpeg_exe(); "
            "print(exe); print('imageio_ffmpeg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    assert Path(out[0]).is_file() and out[1] == "False"
    version = subprocess.run([out[0], "-version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("ffmpeg version")
