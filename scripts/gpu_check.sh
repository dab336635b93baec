#!/usr/bin/env bash
# The GPU checks in one go (under 5 minutes on one GPU):
#   1. the CUDA parity tests (pytest -m cuda),
#   2. gan bench --device cuda --quick,
#   3. a 10-epoch gan train --device cuda, timed, with and without the compiled step.
# Usage: scripts/gpu_check.sh OUT_DIR   (logs and JSON land there)
# Works from a venv with `gan` installed or, on an image that already has the packages, from the
# repository root with PYTHON=python3 (it then runs cli.py directly).
set -uo pipefail
OUT=${1:?usage: scripts/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export GAN_DATA_DIR=${GAN_DATA_DIR:-$PWD/data}
GAN=("$PY" cli.py)
status=0

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  "$PY" -c 'import torch, onnxruntime as ort, onnx; print("torch", torch.__version__, "cuda", torch.version.cuda,
"| onnxruntime", ort.__version__, ort.get_available_providers(), "| onnx", onnx.__version__)'
} > "$OUT/env.txt" 2>&1

if [ -z "${SKIP_TESTS:-}" ]; then  # SKIP_TESTS=1 reruns only the measurements
  echo "== 1. CUDA parity tests" | tee "$OUT/cuda_tests.log"
  timeout 150 "$PY" -m pytest -q -m cuda -p no:cacheprovider tests 2>&1 | tee -a "$OUT/cuda_tests.log" || status=1
fi

echo "== 2. gan bench --device cuda --quick" | tee "$OUT/bench_cuda.log"
timeout 240 "${GAN[@]}" bench --device cuda --quick --json "$OUT/bench_cuda.json" --plot "$OUT/bench_cuda.png" \
  2>&1 | tee -a "$OUT/bench_cuda.log" || status=1

echo "== 3. 10-epoch gan train --device cuda" | tee "$OUT/train_cuda.log"
for mode in --compile --no-compile; do
  run=$(mktemp -d)/run
  start=$(date +%s.%N)
  timeout 120 "${GAN[@]}" train --device cuda "$mode" --out "$run" 2>&1 | tee -a "$OUT/train_cuda.log" || status=1
  end=$(date +%s.%N)
  echo "train $mode: $("$PY" -c "print(round($end - $start, 1))") s wall for 10 epochs, with start-up and data" \
    | tee -a "$OUT/train_cuda.log"
done
exit $status
