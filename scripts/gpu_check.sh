#!/usr/bin/env bash
# The GPU checks in one prepared run (about 5 minutes on one H100/H200):
#   1. versions and the GPU name;
#   2. the CUDA tests (pytest -m cuda): eager/TorchScript/ORT CUDA parity, bench backends;
#   3. a user architecture (examples/my_gan.py:TINY_DCGAN64) imported and exported with --device cuda;
#   4. gan bench --device cuda over batch 64 and 4096;
#   5. 10-epoch gan train --device cuda for mlp and dcgan, timed;
#   6. the tutorial's own DataLoader loop on the same GPU for one epoch, for the ratio.
# Usage: scripts/gpu_check.sh OUT_DIR   (logs and JSON land there)
# Needs a Python with torch, onnxruntime (onnxruntime-gpu for the ORT CUDA rows, e.g. on
# PYTHONPATH=/tmp/ort-site) and this package's other dependencies; PYTHON picks it (default: the
# checkout's .venv). This checkout is installed into a directory of its own first: export/ and
# bench/ only become gan.export and gan.bench when installed, and nothing here relies on the
# repository root being on sys.path.
set -uo pipefail
OUT=${1:?usage: scripts/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SITE=$(mktemp -d)/site
"$PY" -m pip install --quiet --no-deps --no-build-isolation --target "$SITE" . \
  || { echo "could not install this checkout into $SITE (needs setuptools>=68 in $PY)"; exit 3; }
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export GAN_DATA_DIR=${GAN_DATA_DIR:-$PWD/data}
# -P: the repository root is never put on sys.path, so only the installed package is found.
GAN=("$PY" -P -m gan)
status=0
seconds() { "$PY" -P -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$@"; }

{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  "$PY" -c 'import torch, onnxruntime as ort, onnx; ort.preload_dlls() if hasattr(ort, "preload_dlls") else None
print("torch", torch.__version__, "cuda", torch.version.cuda, "| onnxruntime", ort.__version__,
      ort.get_available_providers(), "| onnx", onnx.__version__)'
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

if [ -z "${SKIP_TESTS:-}" ]; then  # SKIP_TESTS=1 reruns only the measurements
  echo "== CUDA tests" | tee "$OUT/cuda_tests.log"
  timeout 150 "$PY" -P -m pytest -q -m cuda -p no:cacheprovider tests 2>&1 | tee -a "$OUT/cuda_tests.log" || status=1
fi

echo "== a user architecture on CUDA" | tee "$OUT/user_arch.log"
user=$(mktemp -d)
"$PY" -P - "$user" <<'PYEOF' 2>&1 | tee -a "$OUT/user_arch.log"
import sys, torch
from gan.models.spec import load_architecture
arch, _ = load_architecture("examples/my_gan.py:TINY_DCGAN64")
g, d = arch.build(0)
torch.save(g.state_dict(), f"{sys.argv[1]}/g.pth"); torch.save(d.state_dict(), f"{sys.argv[1]}/d.pth")
PYEOF
timeout 120 "${GAN[@]}" import "$user/run" --arch examples/my_gan.py:TINY_DCGAN64 \
  --generator "$user/g.pth" --discriminator "$user/d.pth" 2>&1 | tee -a "$OUT/user_arch.log" || status=1
timeout 180 "${GAN[@]}" export "$user/run" --device cuda 2>&1 | tee -a "$OUT/user_arch.log" || status=1
cp "$user/run/export/manifest.json" "$OUT/user_arch_manifest.json" 2>/dev/null

echo "== gan bench --device cuda, batch 64 and 4096" | tee "$OUT/bench_cuda.log"
timeout 300 "${GAN[@]}" bench --device cuda --quick --batch-size 64,4096 --wide \
  --json "$OUT/bench_cuda.json" --plot "$OUT/bench_cuda.png" 2>&1 | tee -a "$OUT/bench_cuda.log" || status=1

echo "== 10-epoch gan train --device cuda" | tee "$OUT/train_cuda.log"
for arch in mlp dcgan; do
  for mode in --compile --no-compile; do
    run=$(mktemp -d)/run
    start=$(date +%s.%N)
    timeout 240 "${GAN[@]}" train --device cuda --arch $arch "$mode" --out "$run" 2>&1 | tail -3 \
      | tee -a "$OUT/train_cuda.log" || status=1
    echo "train $arch $mode: $(seconds "$start" "$(date +%s.%N)") s wall for 10 epochs, with start-up and data" \
      | tee -a "$OUT/train_cuda.log"
  done
done

echo "== the tutorial's DataLoader loop, one epoch on the same GPU" | tee "$OUT/tutorial_cuda.log"
timeout 180 "$PY" -P - <<'PYEOF' 2>&1 | tee -a "$OUT/tutorial_cuda.log" || status=1
import torch
from gan.bench.tutorial_loop import time_tutorial_epoch
from gan.data import load_dataset
print(f"tutorial loop: {time_tutorial_epoch(load_dataset('fashion-mnist'), device=torch.device('cuda')):.1f} s/epoch")
PYEOF
exit $status
