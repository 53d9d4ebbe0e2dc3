"""GPU check: every registered method on CUDA against the CPU result, and the speed-up.

Run on a machine with CUDA: `.venv/bin/python bench/gpu_check.py` (prints and writes
bench/results/gpu.md). Without CUDA it says so and exits 0, so `make bench` can include it.
Maps must match within tolerance (Pearson ≥ 0.999; stochastic methods share seeds).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import agreement, write_table  # noqa: E402

from core.capture import CaptureCache  # noqa: E402
from core.methods import REGISTRY, MethodContext, get_method  # noqa: E402
from core.models import load_model  # noqa: E402
from core.targets import ClassTarget  # noqa: E402

PARAMS = {"smoothgrad": {"samples": 32}, "rise": {"masks": 2000}, "activation_maximization": {"steps": 20},
          "integrated_gradients": {"steps": 32}}


def timed(bundle, x, name, layer):
    ctx = MethodContext(bundle, x, ClassTarget(3), layer=layer if REGISTRY[name].needs_layer else None,
                        cache=CaptureCache())
    if x.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = get_method(name)(ctx, **PARAMS.get(name, {}))
    if x.is_cuda:
        torch.cuda.synchronize()
    return torch.as_tensor(out.map).float().cpu(), time.perf_counter() - t0


def main() -> None:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return
    cpu = load_model("resnet50", weights="none")
    gpu = load_model("resnet50", weights="none", device="cuda")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    rows = []
    for name in REGISTRY:
        if name == "activation_maximization":
            continue  # synthesis: compared by its score gain, not map equality
        m_cpu, t_cpu = timed(cpu, x, name, "layer4")
        row = [name, f"{t_cpu * 1e3:.0f}"]
        for tf32 in (True, False):  # TensorFloat-32 convolutions/matmuls: torch's default on CUDA
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
            timed(gpu, x.cuda(), name, "layer4")  # warm-up (kernels, cuDNN autotune)
            m_gpu, t_gpu = timed(gpu, x.cuda(), name, "layer4")
            r, _ = agreement(m_gpu, m_cpu)
            zero = m_cpu.abs().max() == 0 and m_gpu.abs().max() == 0
            row += [f"{t_gpu * 1e3:.0f}", f"{t_cpu / t_gpu:.1f}×",
                    "both zero" if zero else f"{r:.5f}" + ("" if r >= 0.999 else " MISMATCH")]
        rows.append(row)
    torch.backends.cudnn.allow_tf32 = True
    write_table("gpu", f"GPU vs CPU ({torch.cuda.get_device_name(0)}), resnet50 224×224",
                ["method", "CPU ms", "GPU ms TF32", "speed-up TF32", "Pearson TF32",
                 "GPU ms fp32", "speed-up fp32", "Pearson fp32"], rows,
                "Random-init weights, class 3; GPU timed after one warm-up. TF32: torch's default on CUDA "
                "(10-bit mantissa in convolutions); fp32: TF32 switched off.")


if __name__ == "__main__":
    main()
