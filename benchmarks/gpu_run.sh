#!/usr/bin/env bash
# One prepared speed run on a GPU machine (or, as its own test, on a CPU):
#
#   benchmarks/gpu_run.sh --out OUT [--wheels WHEELS] [--device cuda|cpu] [--config sd15|tiny]
#                         [--budget-s 540] [--frames 16] [--repeats 2] [--methods teacher,fada_balanced,fada_fast]
#                         [--switches all|TAG,...] [--train-batches 4,32,128] [--train-modes eager,compiled]
#                         [--train-steps 5]
#
# In this order, each step writing its files to OUT as it finishes, so that an interrupted run
# keeps what was done:
#   1. the CUDA tests (pytest -m cuda, tests/fada/test_cuda.py): OUT/cuda-tests.txt and .xml
#   2. `fada-bench speed` for each method, with each fast-path switch on and off:
#      OUT/speed-CONFIG-DEVICE-DTYPE-TAG-MACHINE.{csv,json}
#   3. training throughput of the tiny teacher and PeRFlow student (fada.train.throughput):
#      OUT/train-throughput-MACHINE.csv
# plus OUT/env.txt (machine, versions) and OUT/steps.csv (each step's exit status and seconds).
# Every step has its own time limit, so the whole stays under --budget-s (540 s: 9 minutes).
#
# --wheels: a folder of wheels (benchmarks/make_wheelhouse.sh) installed with no network
# (pip --no-index) before the run: everything the three steps import besides torch. Without it,
# the Python on PATH must already have them. The project itself is not pip-installed: it runs
# from this checkout (PYTHONPATH), so none of its other dependencies are needed. Random weights
# at the named config: no weight file is read (the shipped checkpoints can stay behind).
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

WHEELS="" OUT="" DEVICE="cuda" CONFIG="sd15" BUDGET=540 FRAMES=16 REPEATS=2
METHODS="teacher,fada_balanced,fada_fast" SWITCHES="all" TRAIN_BATCHES="4,32,128" TRAIN_MODES="eager,compiled"
TRAIN_STEPS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) WHEELS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --config) CONFIG="$2"; shift 2 ;;
    --budget-s) BUDGET="$2"; shift 2 ;;
    --frames) FRAMES="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    --methods) METHODS="$2"; shift 2 ;;
    --switches) SWITCHES="$2"; shift 2 ;;
    --train-batches) TRAIN_BATCHES="$2"; shift 2 ;;
    --train-modes) TRAIN_MODES="$2"; shift 2 ;;
    --train-steps) TRAIN_STEPS="$2"; shift 2 ;;
    -h|--help) usage ;;
    *) echo "gpu_run.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$OUT" ] || { echo "gpu_run.sh: --out DIR is required" >&2; usage; }
case "$DEVICE" in cuda|cuda:*|cpu) ;; *) echo "gpu_run.sh: --device must be cuda or cpu, got $DEVICE" >&2; exit 2 ;; esac
case "$CONFIG" in sd15|tiny) ;; *) echo "gpu_run.sh: --config must be sd15 or tiny, got $CONFIG" >&2; exit 2 ;; esac
if [ -n "$WHEELS" ] && [ ! -d "$WHEELS" ]; then echo "gpu_run.sh: --wheels $WHEELS is not a folder" >&2; exit 2; fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
START=$(date +%s)
PY="${PYTHON:-python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ "$DEVICE" = "cpu" ]; then DTYPE=fp32; RES=""; else DTYPE=bf16; RES="--resolution 512"; fi
[ "$CONFIG" = "tiny" ] && RES=""
echo "step,exit_status,seconds" > "$OUT/steps.csv"

left() { echo $(( BUDGET - ($(date +%s) - START) )); }
# run_step NAME LIMIT_S CMD...: runs CMD under `timeout`, its output in OUT/NAME.log (last 1 MB
# kept), and records the exit status (124: hit its limit) without stopping the script.
run_step() {
  local name="$1" limit="$2"; shift 2
  if [ "$limit" -lt 5 ]; then echo "$name,skipped-no-time,0" >> "$OUT/steps.csv"; return 0; fi
  local t0 rc; t0=$(date +%s)
  set +e
  (cd "$ROOT" && timeout --kill-after=10 "$limit" "$@") > "$OUT/$name.log" 2>&1
  rc=$?
  set -e
  if [ "$(wc -c < "$OUT/$name.log")" -gt 1000000 ]; then
    tail -c 1000000 "$OUT/$name.log" > "$OUT/$name.log.tmp" && mv "$OUT/$name.log.tmp" "$OUT/$name.log"
  fi
  echo "$name,$rc,$(( $(date +%s) - t0 ))" >> "$OUT/steps.csv"
  echo "[$(( $(date +%s) - START )) s] $name: exit $rc"
}

# 0. Dependencies, from the wheel folder only.
if [ -n "$WHEELS" ]; then
  if ! "$PY" -c "import numpy" 2> /dev/null && ! ls "$WHEELS"/numpy-*.whl > /dev/null 2>&1; then
    echo "gpu_run.sh: this Python has no numpy and $WHEELS has no numpy wheel (make_wheelhouse.sh --with-numpy)" >&2
    exit 2
  fi
  run_step install "$(( $(left) < 120 ? $(left) : 120 ))" \
    "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" -r "$ROOT/benchmarks/gpu-requirements.txt"
fi
"$PY" - > "$OUT/env.txt" 2>&1 <<'EOF' || true
import platform, sys, torch
from fada.profiling import device_name, processor_name
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)
print("processor", processor_name(), "threads", torch.get_num_threads())
print("gpu", device_name("cuda") if torch.cuda.is_available() else "none")
EOF
# The machine's name in the file names: the GPU model, or the CPU model on a CPU run.
if [ "$DEVICE" = "cpu" ]; then NAME_CMD='from fada.profiling import processor_name; print(processor_name())'
else NAME_CMD='import torch; print(torch.cuda.get_device_name(0))'; fi
MACHINE="$("$PY" -c "$NAME_CMD" 2>/dev/null | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9-' || true)"
MACHINE="${MACHINE:-$DEVICE}"
cat "$OUT/env.txt"

# 1. The CUDA tests (skipped on a CPU: then they only show that the marker and hook work).
run_step cuda-tests "$(( $(left) < 120 ? $(left) : 120 ))" \
  "$PY" -m pytest -q -o addopts="" -p no:cacheprovider -m cuda tests/fada/test_cuda.py --junitxml="$OUT/cuda-tests.xml"

# 2. Speed per fast-path switch. TAG -> extra options; "default" is every switch at its default
# (SDPA on, CFG batched, VAE decoder, no compile, no overlap). The overlap pair runs two windows,
# as the overlap needs a next window to hide behind.
declare -A SWITCH=(
  [default]="" [no-sdpa]="--no-sdpa" [no-batch-cfg]="--no-batch-cfg" [decoder-fast]="--decoder fast"
  [no-overlap-2w]="--frames $(( 2 * FRAMES ))" [overlap-2w]="--overlap-decode --frames $(( 2 * FRAMES ))"
  [compile]="--compile"
)
ORDER="default no-sdpa no-batch-cfg decoder-fast no-overlap-2w overlap-2w compile"
[ "$SWITCHES" = "all" ] || ORDER="${SWITCHES//,/ }"
TRAIN_RESERVE=$(( BUDGET / 5 ))
set -- $ORDER
n=$#
for tag in $ORDER; do
  [ -n "${SWITCH[$tag]+x}" ] || { echo "gpu_run.sh: unknown switch $tag (known: ${!SWITCH[*]})" >&2; exit 2; }
  share=$(( ($(left) - TRAIN_RESERVE) / n ))
  n=$(( n - 1 ))
  # shellcheck disable=SC2086  # the switch's options split into words on purpose
  run_step "speed-$tag" "$share" "$PY" -m fada_bench speed --methods "$METHODS" --config "$CONFIG" --device "$DEVICE" \
    --dtype "$DTYPE" $RES --frames "$FRAMES" --repeats "$REPEATS" ${SWITCH[$tag]} \
    --out "$OUT/speed-$CONFIG-$DEVICE-$DTYPE-$tag-$MACHINE.csv"
done

# 3. Training throughput at the tiny config (the ablation rows' size), whatever --config is.
run_step train-throughput "$(( $(left) - 5 ))" \
  "$PY" -m fada.train.throughput --device "$DEVICE" --batches "$TRAIN_BATCHES" --compile "$TRAIN_MODES" \
  --steps "$TRAIN_STEPS" --warmup "$(( TRAIN_STEPS < 2 ? 1 : 2 ))" \
  --out "$OUT/train-throughput-$MACHINE.csv"

echo "done in $(( $(date +%s) - START )) s; files in $OUT:"
ls -l "$OUT"
# Failed steps are in steps.csv; the script itself fails only if no speed file was written.
ls "$OUT"/speed-*.csv > /dev/null 2>&1
