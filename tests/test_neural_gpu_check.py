"""The prepared GPU check (bench/gpu_check.py) on CPU with tiny sizes, the neural path's import list, and
the synthetic weights built without ../shared."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: what the neural path (engine + synthetic weights + the check's inputs) must never import
FORBIDDEN = ("dlib", "pocketsphinx", "librosa", "fastapi", "starlette", "uvicorn", "scipy", "PySide6", "bpy",
             "cv2", "imageio", "sklearn", "skimage")


def run_check(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "report"
    cmd = [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--device", "cpu", "--config", "tiny",
           "--frames", "2", "--batches", "1,2", "--reps", "1", "--mm-n", "128", "--min-left-s", "1",
           "--threads", "2", "--out", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return proc, report


def test_gpu_check_on_cpu_passes_and_fails_soft_per_config(tmp_path):
    proc, report = run_check(tmp_path, "--precisions", "fp32,bf16,nope", "--variants", "bf16:2:compile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    checks = report["equivalence"]
    assert len(checks) == 8 and all(c["passed"] for c in checks)
    rows = {r["config"]: r for r in report["speed"]}
    assert list(rows) == ["fp32 b1", "fp32 b2", "bf16 b1", "bf16 b2", "nope b1", "nope b2", "bf16 b2 compile"]
    for name in ("fp32 b1", "fp32 b2", "bf16 b1", "bf16 b2"):
        assert rows[name]["status"] == "ok" and rows[name]["fps"] > 0 and rows[name]["gflops"] > 0
    # bf16 frames are compared with the fp32 ones (same inputs): close, not identical
    assert 30 < rows["bf16 b2"]["psnr_vs_fp32_db"] < 200 and rows["fp32 b2"]["psnr_vs_fp32_db"] is None
    assert rows["nope b1"]["status"].startswith("error: EammError: unknown precision 'nope'")
    assert rows["bf16 b2 compile"]["status"].startswith("skipped:")
    assert report["gflop_per_frame"] > 0 and report["io"]["frames"] == 2
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| nope b1 | error:" in md and "Overall: equivalence PASS" in md


def test_gpu_check_skips_rows_past_its_budget(tmp_path):
    proc, report = run_check(tmp_path, "--budget-s", "1", "--precisions", "fp32", "--variants", "")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert all(r["status"].startswith("skipped: time budget") for r in report["speed"])
    assert report["io"] == {"error": "skipped: time budget"}


def test_a_difference_above_tolerance_or_nan_fails():
    sys.path.insert(0, str(REPO / "bench"))
    import gpu_equivalence as eq

    assert eq._check("x", [1.0, 2.0], [1.0, 2.0 + 1e-6], 1e-5).passed
    assert not eq._check("x", [1.0, 2.0], [1.0, 2.1], 1e-5).passed
    assert not eq._check("x", [np.nan], [0.0], 1e-5).passed


def test_neural_path_imports_only_what_it_needs(tmp_path):
    """The whole chain (synthetic weights, engine, E_k, A2FD, E_e, F + G) in a fresh interpreter."""
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'bench')!r}, {str(REPO / 'tests')!r}]
        from pathlib import Path
        from eamm_core.engines.neural.config import tiny
        from neural_speed import engine_pipeline, make_inputs, make_model
        import gpu_equivalence as eq
        model = make_model(Path({str(tmp_path)!r}) / "m", tiny())
        frames = engine_pipeline(eq.engine(model, "cpu", "bf16", 2), *make_inputs(3, None))
        assert frames.shape == (3, 256, 256, 3), frames.shape
        print(" ".join(sorted(sys.modules)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {m.split(".")[0] for m in proc.stdout.split()}
    assert {"torch", "numpy", "safetensors", "eamm_core"} <= loaded  # the check sees the path's imports
    assert sorted(loaded & set(FORBIDDEN)) == []


def test_synthetic_weights_without_shared_match_the_golden_checksums():
    """The key map + our anti-alias kernel reproduce the golden SHA-256 of every tensor we load."""
    from conftest import shared_path
    from neural_synthetic import antialias_kernel, released_author_keys, synthetic_tensor

    z = np.load(shared_path("golden", "eamm_golden_v1.npz"), allow_pickle=False)
    sha = dict(zip(z["w_keys"], z["w_sha256"]))
    kernel = antialias_kernel()
    assert np.array_equal(kernel, z["w_antialias_kernel_13x13"])
    keys = released_author_keys()
    names = [f"{e}/{k}" for e, items in keys.items() for k, _ in items]
    assert len(names) == 620 and set(names) <= set(sha)
    for entry, items in keys.items():
        for key, shape in items:
            t = synthetic_tensor(entry, key, shape, kernel)
            assert hashlib.sha256(np.ascontiguousarray(t).tobytes()).hexdigest() == sha[f"{entry}/{key}"], key
