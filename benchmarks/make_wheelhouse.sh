#!/usr/bin/env bash
# Download the wheels benchmarks/gpu_run.sh installs offline (--wheels), on a machine that can
# reach the package index:
#
#   benchmarks/make_wheelhouse.sh [--with-numpy] OUT [PYTHON_VERSION]
#
# PYTHON_VERSION (e.g. 3.11, 3.12) is the GPU machine's Python, when it differs from this one's;
# the wheels are for manylinux x86_64. torch is not among them (the GPU machine has its own), nor
# numpy unless --with-numpy (a machine with torch has it as a rule). For Python 3.11: 43 MB
# (transformers, Pillow, diffusers, hf_xet and tokenizers are most of it); numpy adds 18 MB.
set -euo pipefail
WITH_NUMPY=0
if [ "${1:-}" = "--with-numpy" ]; then WITH_NUMPY=1; shift; fi
OUT="${1:?usage: make_wheelhouse.sh [--with-numpy] OUT [PYTHON_VERSION]}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
VER="${2:-$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}"
mkdir -p "$OUT"
"$PY" -m pip download --quiet --dest "$OUT" --only-binary=:all: --python-version "$VER" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  -r "$ROOT/benchmarks/gpu-requirements.txt"
[ "$WITH_NUMPY" = 1 ] || rm -f "$OUT"/numpy-*.whl      # pulled in by transformers' requirements
du -sh "$OUT"
