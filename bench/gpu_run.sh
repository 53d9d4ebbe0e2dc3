#!/usr/bin/env bash
# The GPU checks as one prepared script, for a lent GPU machine (issue 20 item 6): the CUDA-vs-CPU
# check of every method, batch-size tuning, and the CAM and perturbation benches against the peers.
# Needs the peers (pure Python) in .whl/site: `pip install --no-deps --target .whl/site captum
# grad-cam ttach torchcam torchray`. Results land in bench/results/ and, when $OUT is set, there.
set -u
export PYTHONPATH="$PWD:$PWD/.whl/site" PYTHONUNBUFFERED=1 SALIENCY_STUDIO_HOME=/tmp/saliency-home
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
run() {
  local limit=$1; shift; echo "== $*"; timeout "$limit" python3 "$@" || echo "!! $* ended with status $?"
  if [ -n "${OUT:-}" ]; then cp bench/results/{gpu,tuning_cuda,perturbation,cam}.md "$OUT"/ 2>/dev/null; fi
}
run 170 bench/gpu_check.py
run 80 bench/bench_tuning.py
run 140 bench/bench_perturbation.py
run 120 bench/bench_cam.py
