"""The internal-error handler's crash log: private per-user folder, unique names, no symlink following,
and a location it cannot write never turns the error report into a traceback."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from eamm_core import cli


def _boom() -> RuntimeError:
    try:
        raise RuntimeError("synthetic bug")
    except RuntimeError as exc:
        return exc


@pytest.fixture()
def tmpdir_env(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_crash_logs_go_to_a_private_folder_with_unique_names(tmpdir_env, capsys):
    assert cli._report_internal_error(_boom()) == 70
    assert cli._report_internal_error(_boom()) == 70
    err = capsys.readouterr().err.splitlines()
    paths = [line.rsplit("details in ", 1)[1] for line in err]
    assert len(set(paths)) == 2
    folder = os.path.dirname(paths[0])
    assert os.path.dirname(paths[1]) == folder and folder != str(tmpdir_env)
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700 and os.lstat(folder).st_uid == os.getuid()
    for p in paths:
        assert "synthetic bug" in open(p, encoding="utf-8").read()
        assert stat.S_IMODE(os.lstat(p).st_mode) & 0o077 == 0


def test_a_planted_symlink_is_never_followed(tmpdir_env, capsys):
    victim = tmpdir_env / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmpdir_env / "eamm-crash.log")  # the old fixed name
    (tmpdir_env / "elsewhere").mkdir()
    os.symlink(tmpdir_env / "elsewhere", tmpdir_env / f"eamm-{os.getuid()}")  # in place of the private folder
    assert cli._report_internal_error(_boom()) == 70
    assert victim.read_text() == "precious"
    assert list((tmpdir_env / "elsewhere").iterdir()) == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError: synthetic bug)" in err


def test_unwritable_location_still_reports_one_line(tmp_path, monkeypatch, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_dir))
    assert cli._report_internal_error(_boom()) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (RuntimeError: synthetic bug)" in err
    assert "Traceback" not in err


def test_an_existing_private_folder_open_to_others_is_closed_again(tmpdir_env, capsys):
    folder = tmpdir_env / f"eamm-{os.getuid()}"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert cli._report_internal_error(_boom()) == 70
    assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700
    assert len(list(folder.iterdir())) == 1
