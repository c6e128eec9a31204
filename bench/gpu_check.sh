#!/usr/bin/env bash
# The neural engine on a GPU: the one prepared check (docs/benchmarks.md, "Neural engine on a GPU").
#   bash bench/gpu_check.sh              # GPU session: cuda, full table, report under $OUT
#   DEVICE=cpu bash bench/gpu_check.sh   # the same code path on CPU with small sizes
# Runs from the tree as it travels (no install step) under $PYTHON (default python3): needs only torch,
# numpy and safetensors (+ opencv-python-headless for the PNG step). Exit 0 when the equivalence checks
# pass. Extra arguments go to bench/gpu_check.py (see its --help).
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
OUT="${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/eamm_gpu_check.XXXXXX")}"
# the GPU check must end within 8 minutes, start-up included; python's own budget skips later rows first
HARD_LIMIT_S="${HARD_LIMIT_S:-470}"
BUDGET_S="${BUDGET_S:-400}"
mkdir -p "$OUT"
if [ "$DEVICE" = cpu ]; then  # a shared 2-core CPU needs minutes per row at the released sizes
  HARD_LIMIT_S="${HARD_LIMIT_S_CPU:-1500}"
  BUDGET_S="${BUDGET_S_CPU:-1200}"
  set -- --frames 4 --batches 1,2 --precisions fp32,bf16 --variants "" --reps 1 --mm-n 1024 \
    --min-left-s 5 "$@"
fi
echo "eamm gpu_check: device $DEVICE, python $("$PY" -c 'import sys; print(sys.version.split()[0])'), report in $OUT"
timeout -k 10 "$HARD_LIMIT_S" "$PY" bench/gpu_check.py --device "$DEVICE" --out "$OUT" --budget-s "$BUDGET_S" "$@"
rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "eamm gpu_check: stopped at the ${HARD_LIMIT_S} s limit; the report in $OUT holds what was measured"
fi
exit "$rc"
