"""Process settings an ``eamm`` process applies before numpy loads (eamm_core.runtime)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eamm_core.runtime import BLAS_THREAD_VARS, single_thread_blas

REPO = Path(__file__).resolve().parents[1]

PROBE = ("import eamm_core.cli, numpy, json, threadpoolctl; "
         "print(json.dumps([p['num_threads'] for p in threadpoolctl.threadpool_info() "
         "if p['internal_api'] == 'openblas']))")


def _blas_threads(env_extra: dict) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARS}
    env.update(env_extra, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_single_thread_blas_sets_only_missing_values():
    env: dict[str, str] = {}
    single_thread_blas(env)
    assert env == {var: "1" for var in BLAS_THREAD_VARS}
    mine = {var: "3" for var in BLAS_THREAD_VARS}
    single_thread_blas(mine)
    assert mine == {var: "3" for var in BLAS_THREAD_VARS}  # the user's choice is kept


def test_the_cli_runs_numpy_blas_on_one_thread_unless_told_otherwise():
    pytest.importorskip("threadpoolctl")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: OpenBLAS starts one thread anyway")
    threads = _blas_threads({})
    if not threads:
        pytest.skip("this numpy does not use OpenBLAS")
    assert threads == [1] * len(threads)
    assert _blas_threads({"OPENBLAS_NUM_THREADS": "2"}) == [2] * len(threads)


def test_the_server_starts_job_processes_with_one_blas_thread(tmp_path, monkeypatch):
    from server import worker

    seen = {}

    class FakePopen:
        def __init__(self, args, **kwargs):
            seen.update(kwargs["env"])
            raise OSError("not started in this test")

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setattr(worker.subprocess, "Popen", FakePopen)
    with pytest.raises(OSError):
        worker.SubprocessRunner().start(tmp_path, "cpu", tmp_path / "cache")
    assert seen["OPENBLAS_NUM_THREADS"] == "1"
    assert (tmp_path / "runner.log").exists()  # opened for the job's stderr, and closed again on failure
