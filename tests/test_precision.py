"""TF32 is off for explanations on CUDA unless the user allows it (core.precision)."""

import torch

from core import precision


def test_cuda_precision_defaults_to_float32_and_can_be_relaxed(monkeypatch):
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        precision.set_gpu_precision("cpu")  # nothing changes for CPU work
        assert torch.backends.cudnn.allow_tf32
        monkeypatch.delenv(precision.ENV_TF32, raising=False)
        precision.set_gpu_precision("cuda")
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        monkeypatch.setenv(precision.ENV_TF32, "1")
        precision.set_gpu_precision("cuda")
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
