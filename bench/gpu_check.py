"""The neural engine on a GPU: one prepared check (``bash bench/gpu_check.sh`` runs it; docs/benchmarks.md).

1. Equivalence: device fp32 against CPU fp32 in the same run, network by network (golden tolerances),
   and the device's fp32 networks against the golden arrays wherever ``../shared`` / ``$EAMM_SHARED`` exists.
2. Speed table, per precision × batch size (× variant): fps of the whole network chain (E_k, A2FD,
   E_e + P_d, F + G) at 256², GFLOP/frame, GFLOP/s achieved and its fraction of the bf16 matmul rate
   measured on the same device, peak device memory, PSNR of the frames against fp32 frames.
3. Engine alone against engine + frames written as PNG by the job's ``FrameWriter`` (the I/O share).

Weights are synthetic weights v1 built from the rule (tests/neural_synthetic.py), inputs synthetic (the
golden inputs when ../shared exists). Every configuration fails soft: an error is recorded in its row and
the rest go on. A time budget skips what would not fit. The report (``report.md`` + ``report.json``) is
rewritten after every step under ``--out``, so a run killed from outside keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests")]

import gpu_equivalence as eq
from neural_speed import engine_pipeline, make_inputs, make_model, matmul_gflops, psnr, sync

log = logging.getLogger("gpu_check")


@dataclass(frozen=True)
class Config:
    precision: str
    batch: int
    variant: str = "default"  # default | no-autotune | tf32 | compile | cudagraphs

    @property
    def label(self) -> str:
        return f"{self.precision} b{self.batch}" + ("" if self.variant == "default" else f" {self.variant}")


@dataclass(frozen=True)
class Row:
    config: str
    status: str  # ok | error: ... | skipped: ...
    fps: float | None = None
    gflop_per_frame: float | None = None
    gflops: float | None = None
    of_bf16_matmul: float | None = None
    peak_mem_mib: float | None = None
    psnr_vs_fp32_db: float | None = None
    warmup_s: float | None = None


class Budget:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def parse_configs(precisions: str, batches: str, variants: str) -> list[Config]:
    """Every precision × batch (default variant), then the extra variants as ``PREC:BATCH:VARIANT``."""
    out = [Config(p, int(b)) for p in precisions.split(",") if p for b in batches.split(",") if b]
    for item in filter(None, variants.split(",")):
        p, b, v = item.split(":")
        out.append(Config(p, int(b), v))
    return out


def environment(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "device": str(device), "threads": torch.get_num_threads(), "date_utc":
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "machine": platform.machine()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, gpu_mem_gib=round(p.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info


def measure_flops(eng, golden: Path | None) -> tuple[float, float]:
    """(fixed GFLOP per job, GFLOP per frame) of the chain, from counts at 1 and 2 frames."""
    from torch.utils.flop_counter import FlopCounterMode

    counts = []
    for n in (1, 2):
        counter = FlopCounterMode(display=False)
        with counter:
            engine_pipeline(eng, *make_inputs(n, golden))
        counts.append(counter.get_total_flops() / 1e9)
    per = counts[1] - counts[0]
    return counts[0] - per, per


def prepare_variant(eng, cfg: Config) -> None:
    """Apply a variant to a built engine (the default is the engine as the product runs it)."""
    torch.backends.cudnn.benchmark = cfg.variant != "no-autotune"
    tf32 = cfg.variant == "tf32"  # fp32 rows are strict fp32 unless this variant asks for TF32 tensor cores
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    if cfg.variant == "compile":
        eng.net.generator = torch.compile(eng.net.generator, dynamic=False)
    elif cfg.variant == "cudagraphs":
        eng.net.generator = torch.compile(eng.net.generator, mode="reduce-overhead", dynamic=False)
    elif cfg.variant not in ("default", "no-autotune", "tf32"):
        raise ValueError(f"unknown variant {cfg.variant!r}")


def run_config(cfg: Config, ctx: dict) -> tuple[Row, np.ndarray | None]:
    """One row of the table: build, warm up (autotune / compile), best of ``reps`` timed runs."""
    dev = ctx["device"]
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    eng = eq.engine(ctx["model"], str(dev), cfg.precision, cfg.batch)
    prepare_variant(eng, cfg)
    t0 = time.perf_counter()
    engine_pipeline(eng, *ctx["warm_inputs"])
    sync(dev)
    warm = time.perf_counter() - t0
    best, frames = float("inf"), None
    for _ in range(ctx["reps"]):
        t0 = time.perf_counter()
        frames = engine_pipeline(eng, *ctx["inputs"])
        sync(dev)
        best = min(best, time.perf_counter() - t0)
    n = len(frames)
    fixed, per = ctx["flops"]
    gflops = (fixed + n * per) / best
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    ref = ctx.get("fp32_frames")
    return Row(cfg.label, "ok", n / best, per, gflops, gflops / ctx["mm_bf16"], peak,
               psnr(frames, ref) if ref is not None and cfg.precision != "fp32" else None, warm), frames


def speed_table(configs: list[Config], ctx: dict, budget: Budget, report) -> list[Row]:
    rows: list[Row] = []
    for cfg in configs:
        need = ctx["min_left_s"] * (6 if cfg.variant in ("compile", "cudagraphs") else 1)
        if budget.left() < need:
            row = Row(cfg.label, f"skipped: time budget ({budget.left():.0f} s left, needs ~{need:.0f} s)")
        elif cfg.variant in ("compile", "cudagraphs") and ctx["device"].type != "cuda":
            row = Row(cfg.label, "skipped: compile variants run on cuda only")
        else:
            report["speed"] = [asdict(r) for r in rows] + [asdict(Row(cfg.label, "running (cut off if it stays)"))]
            write_report(report, ctx["out"])
            try:
                row, frames = run_config(cfg, ctx)
                if cfg.precision == "fp32" and "fp32_frames" not in ctx:
                    ctx["fp32_frames"] = frames
            except Exception as exc:  # fail soft: one failing config is reported, the rest go on
                log.debug("config %s failed", cfg.label, exc_info=True)
                row = Row(cfg.label, f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
        rows.append(row)
        log.info("%s", _row_line(row))
        report["speed"] = [asdict(r) for r in rows]
        write_report(report, ctx["out"])
    return rows


def io_share(ctx: dict) -> dict:
    """Engine alone against engine + every frame written as PNG by the job's FrameWriter (item 4)."""
    from eamm_core.output import FrameWriter

    torch.backends.cudnn.benchmark = True
    eng = eq.engine(ctx["model"], str(ctx["device"]), ctx["io_precision"], ctx["io_batch"])
    engine_pipeline(eng, *ctx["warm_inputs"])
    alone = total = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        writer = FrameWriter(Path(tmp) / "frames")
        for _ in range(max(2, ctx["reps"])):  # interleaved, best of each, so that a busy machine counts alike
            t0 = time.perf_counter()
            engine_pipeline(eng, *ctx["inputs"])
            sync(ctx["device"])
            alone = min(alone, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i, frame in enumerate(engine_pipeline(eng, *ctx["inputs"])):
                writer.write(i, frame)
            total = min(total, time.perf_counter() - t0)
        written = len(writer.indices_on_disk())
    return {"config": f"{ctx['io_precision']} b{ctx['io_batch']}", "frames": written, "engine_s": alone,
            "engine_plus_png_s": total, "io_share": max(0.0, 1 - alone / total),
            "note": "whole run_job left out: its prepare stages need dlib/pocketsphinx (not on the GPU image); "
                    "frames are written by the job's FrameWriter (PNG), no MP4"}


def _row_line(r: Row) -> str:
    def f(v, fmt):
        return "–" if v is None else format(v, fmt)

    return (f"| {r.config} | {r.status} | {f(r.fps, '.1f')} | {f(r.gflop_per_frame, '.1f')} | {f(r.gflops, '.0f')} | "
            f"{f(r.of_bf16_matmul, '.1%')} | {f(r.peak_mem_mib, '.0f')} | {f(r.psnr_vs_fp32_db, '.1f')} | "
            f"{f(r.warmup_s, '.1f')} |")


def write_report(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    env = report.get("environment", {})
    lines = [f"# Neural engine check on {env.get('gpu', env.get('device', '?'))}", "",
             "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()), ""]
    if "matmul_gflops" in report:
        lines += ["Matmul rate (torch.mm, best call): " + ", ".join(
            f"{k} {v:.0f} GFLOP/s" for k, v in report["matmul_gflops"].items()), ""]
    checks = report.get("equivalence", [])
    if checks:
        lines += ["## Equivalence", "", "| check | max abs diff | tolerance | result |", "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['max_abs_diff']:.2e} | {c['tolerance']:.0e} | "
                  f"{'PASS' if c['passed'] else 'FAIL'} |" for c in checks]
        lines.append("")
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    if report.get("speed"):
        frames = report.get("frames_per_run", "?")
        lines += ["", f"## Speed ({frames} frames per timed run at 256², best of {report.get('reps')})", "",
                  "| config | status | fps | GFLOP/frame | GFLOP/s | of bf16 matmul | peak MiB | PSNR vs fp32 dB |"
                  " warm-up s |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [_row_line(Row(**r)) for r in report["speed"]]
    if report.get("io"):
        io = report["io"]
        lines += ["", "## Frames written vs engine alone", "", json.dumps(io) if "error" in io else
                  f"{io['config']}, {io['frames']} frames: engine {io['engine_s']:.2f} s, engine + PNG "
                  f"{io['engine_plus_png_s']:.2f} s, I/O share {io['io_share']:.0%} ({io['note']})"]
    lines += ["", f"Overall: {report.get('result', 'running')}"]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto (cuda when present), cuda, cuda:N or cpu")
    ap.add_argument("--out", default="", help="report folder (default: a new temporary folder)")
    ap.add_argument("--budget-s", type=float, default=420, help="time for the whole check; later steps are skipped")
    ap.add_argument("--config", choices=("released", "tiny"), default="released", help="network sizes (tiny: tests)")
    ap.add_argument("--frames", type=int, default=256, help="frames per timed run")
    ap.add_argument("--precisions", default="fp32,bf16,fp16")
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--variants",
                    default="bf16:64:default,bf16:32:no-autotune,fp32:32:tf32,bf16:32:compile,bf16:32:cudagraphs",
                    help="extra rows PREC:BATCH:VARIANT (variant: default, no-autotune, tf32, compile, cudagraphs)")
    ap.add_argument("--reps", type=int, default=2, help="timed runs per row; the fastest counts")
    ap.add_argument("--mm-n", type=int, default=8192, help="matrix size of the matmul rate")
    ap.add_argument("--min-left-s", type=float, default=20, help="a row starts only with this much budget left")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    return ap.parse_args(argv)


def equivalence(ctx: dict, report: dict) -> list[eq.Check]:
    """Device vs CPU, then golden; an exception is one failed check, not the end of the run."""
    checks: list[eq.Check] = []
    steps = [("device vs cpu", lambda: eq.device_vs_cpu(ctx["model"], str(ctx["device"]), ctx["eq_inputs"]))]
    if ctx["shared"] is not None:
        steps.append(("golden", lambda: eq.against_golden(ctx["model"], str(ctx["device"]), ctx["shared"])))
    for name, step in steps:
        try:
            checks += step()
        except Exception as exc:  # recorded as a failed check
            log.debug("%s failed", name, exc_info=True)
            checks.append(eq.Check(f"{name}: {type(exc).__name__}: {str(exc)[:200]}", float("nan"), 0.0, False,
                                   traceback.format_exc(limit=3)))
        report["equivalence"] = [c.as_dict() for c in checks]
        write_report(report, ctx["out"])
    for c in checks:
        log.info("%s %s: max |diff| %.2e (tolerance %.0e)", "PASS" if c.passed else "FAIL", c.name,
                 c.max_abs_diff, c.tolerance)
    return checks


def setup(args, out: Path, model: Path, report: dict) -> dict:
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU here")
    released = args.config == "released"
    shared = eq.shared_dir() if released else None
    golden = shared / "golden" / "eamm_golden_v1.npz" if shared else None
    report["environment"] = environment(dev)
    report["notes"].append(f"golden arrays: {shared}" if shared else
                           "golden arrays: not available (no ../shared, or tiny sizes): device vs CPU only")
    return {"device": dev, "model": model, "out": out, "shared": shared, "golden": golden, "reps": args.reps,
            "eq_inputs": make_inputs(6, golden), "inputs": make_inputs(args.frames, golden),
            "warm_inputs": make_inputs(min(args.frames, 64), golden), "min_left_s": args.min_left_s,
            "io_precision": "bf16" if dev.type == "cuda" else "fp32", "io_batch": 32 if dev.type == "cuda" else 2}


def measure_rates(ctx: dict, args, report: dict) -> None:
    dev = ctx["device"]
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if dev.type == "cuda":
        dtypes["fp16"] = torch.float16
    report["matmul_gflops"] = {k: matmul_gflops(d, args.mm_n, 5, dev) for k, d in dtypes.items()}
    ctx["mm_bf16"] = report["matmul_gflops"]["bf16"]
    ctx["flops"] = measure_flops(eq.engine(ctx["model"], str(dev)), ctx["golden"])
    report["gflop_fixed_per_job"], report["gflop_per_frame"] = ctx["flops"]
    write_report(report, ctx["out"])


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    budget = Budget(args.budget_s)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="eamm_gpu_check_"))
    # fp32 means fp32 on CUDA too (TF32 off), so that the device-vs-CPU check and the fp32 row are honest
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    report: dict = {"args": vars(args), "notes": [], "frames_per_run": args.frames, "reps": args.reps}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        from eamm_core.engines.neural.config import tiny

        model = make_model(Path(tmp) / "model", tiny() if args.config == "tiny" else None)
        ctx = setup(args, out, model, report)
        report["notes"].append(f"synthetic weights v1 ({args.config} sizes) built in {time.perf_counter() - t0:.1f} s")
        checks = equivalence(ctx, report)
        passed = bool(checks) and all(c.passed for c in checks)
        try:
            measure_rates(ctx, args, report)
        except Exception as exc:  # noqa: BLE001 - the equivalence result still stands
            report["notes"].append(f"matmul/FLOP count failed: {type(exc).__name__}: {exc}")
            ctx.setdefault("mm_bf16", float("nan"))
            ctx.setdefault("flops", (float("nan"), float("nan")))
        # the PNG share before the table, whose last rows (compile) are the ones a tight budget drops
        if budget.left() > args.min_left_s:
            try:
                report["io"] = io_share(ctx)
            except Exception as exc:  # noqa: BLE001 - the I/O share is optional: recorded, the report still written
                report["io"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            report["io"] = {"error": "skipped: time budget"}
        write_report(report, out)
        speed_table(parse_configs(args.precisions, args.batches, args.variants), ctx, budget, report)
    report["result"] = "equivalence PASS" if passed else "equivalence FAIL"
    report["elapsed_s"] = round(args.budget_s - budget.left(), 1)
    write_report(report, out)
    log.info("%s\nreport: %s", (out / "report.md").read_text(encoding="utf-8"), out)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
