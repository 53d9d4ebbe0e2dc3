"""Arithmetic precision on GPUs: explanations in full float32 unless the user trades it for speed.

torch runs CUDA convolutions in TensorFloat-32 by default (10-bit mantissa). On an H100 that
moved gradient maps (saliency, SmoothGrad, integrated gradients) of resnet50 to Pearson
0.987–0.999 against the CPU's, while every method matched at ≥ 0.99997 with it off
(bench/RESULTS.md, GPU run). ``SALIENCY_STUDIO_TF32=1`` keeps TF32 (up to 2.5× faster
perturbation methods there, whose maps stay at Pearson ≥ 0.999).
"""

from __future__ import annotations

import os

import torch

ENV_TF32 = "SALIENCY_STUDIO_TF32"


def tf32_allowed() -> bool:
    return os.environ.get(ENV_TF32, "0").strip().lower() in ("1", "on", "true", "yes")


def set_gpu_precision(device: torch.device | str) -> None:
    """Before work on ``device``: TF32 off on CUDA (unless allowed); nothing elsewhere."""
    if torch.device(device).type != "cuda":
        return
    allowed = tf32_allowed()
    torch.backends.cudnn.allow_tf32 = allowed
    torch.backends.cuda.matmul.allow_tf32 = allowed
