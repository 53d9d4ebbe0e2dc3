"""Gradient methods: ours against Captum's on the same model, input and device, in one run.

Ratio = our median time / Captum's (≤ 1.0: we do no more work than the peer). For integrated
gradients Captum gets its best ``internal_batch_size`` from a small sweep.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from captum.attr import Deconvolution, GuidedBackprop, InputXGradient, IntegratedGradients, Saliency

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import agreement, median_time, paired_times, write_table  # noqa: E402

from core.capture import CaptureCache  # noqa: E402
from core.methods import MethodContext, get_method  # noqa: E402
from core.models import load_model  # noqa: E402
from core.targets import ClassTarget  # noqa: E402

MODEL, TARGET, IG_STEPS = "resnet18", 3, 50


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bundle = load_model(MODEL, weights="none", device=device)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(device)

    def ours(name, **params):
        def call():
            ctx = MethodContext(bundle, x, ClassTarget(TARGET), cache=CaptureCache())
            return get_method(name)(ctx, **params).attribution
        return call

    def peer(cls, **kwargs):
        return lambda: cls(bundle.net).attribute(x.clone().requires_grad_(), target=TARGET, **kwargs)

    cases = [
        ("saliency", ours("saliency"), peer(Saliency, abs=True)),
        ("input_x_gradient", ours("input_x_gradient"), peer(InputXGradient)),
        ("deconvnet", ours("deconvnet", relu_scope="modules"), peer(Deconvolution)),
        ("guided_backprop", ours("guided_backprop", relu_scope="modules"), peer(GuidedBackprop)),
    ]
    ig_ours = ours("integrated_gradients", steps=IG_STEPS, baseline="zeros")
    best = None
    for ibs in (10, 25, 50):
        fn = peer(IntegratedGradients, n_steps=IG_STEPS, baselines=torch.zeros_like(x), internal_batch_size=ibs)
        t = median_time(fn, repeats=3)
        if best is None or t < best[0]:
            best = (t, ibs, fn)
    cases.append((f"integrated_gradients ({IG_STEPS} steps; captum internal_batch_size={best[1]})", ig_ours, best[2]))

    rows = []
    for name, mine, theirs in cases:
        t_ours, t_peer = paired_times(mine, theirs, repeats=5 if "integrated" in name else 15)
        r, diff = agreement(mine(), theirs())
        rows.append([name, f"{t_ours * 1e3:.1f}", f"{t_peer * 1e3:.1f}", f"{t_ours / t_peer:.2f}",
                     f"{r:.6f}", f"{diff:.2e}"])
    write_table("gradients", f"Gradient methods vs Captum ({MODEL}, 224×224, {device})",
                ["method", "ours ms", "captum ms", "ratio", "Pearson", "max abs diff"], rows,
                "Medians of runs alternating ours and Captum (15, or 5 for IG) after one warm-up; random-init weights (seed 0); one image.")


if __name__ == "__main__":
    main()
