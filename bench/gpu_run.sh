#!/usr/bin/env bash
# The GPU checks as one prepared script, for a lent GPU machine (issue 20 item 6, issue 15): the
# CUDA-vs-CPU check of every method, the dataset workbench against the per-image peer loops,
# batch-size tuning, and the CAM and perturbation benches against the peers.
# Needs the peers (pure Python) in .whl/site: `pip install --no-deps --target .whl/site captum
# grad-cam ttach torchcam torchray`. Results land in bench/results/ and, when $OUT is set, there.
# Each step has its own time limit, cut to what is left of TOTAL seconds for the whole script.
set -u
export PYTHONPATH="$PWD:$PWD/.whl/site" PYTHONUNBUFFERED=1 SALIENCY_STUDIO_HOME=/tmp/saliency-home
TOTAL=540
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
run() {
  local limit=$1; shift
  local left=$((TOTAL - SECONDS))
  if [ "$left" -lt "$limit" ]; then limit=$left; fi
  if [ "$limit" -lt 20 ]; then echo "!! $* skipped: the script's ${TOTAL} s are spent"; return; fi
  echo "== $* (limit ${limit} s, ${SECONDS} s gone)"; timeout "$limit" python3 "$@" || echo "!! $* ended with status $?"
  if [ -n "${OUT:-}" ]; then cp bench/results/{gpu,tuning_cuda,perturbation_cuda,cam_cuda,workbench_cuda}.md "$OUT"/ 2>/dev/null; fi
}
# Ordered by what waits on a GPU most; the limits add up to TOTAL.
# issue 15: prediction + Grad-CAM + deletion/insertion vs pytorch-grad-cam + torchcam, both on the GPU;
# 100 curve images (not 300) and one repeat keep it within its limit; writes bench/results/workbench_cuda.md
run 100 bench/bench_workbench.py --device cuda --images 300 --curve-images 100 --repeats 1 --skip-memory
# issue 20: RISE vs TorchRay on the GPU (0.89 on 2026-11-27, goal 0.7) and occlusion vs Captum
run 140 bench/bench_perturbation.py
run 150 bench/gpu_check.py
run 90 bench/bench_cam.py
run 60 bench/bench_tuning.py
