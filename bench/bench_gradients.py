"""Gradient methods: ours against Captum's on the same model, input and device, in one run.

Ratio = ours / Captum's (lower is better; ≤ 1.0: we do no more work than the peer). Integrated
gradients: Captum is swept over ``internal_batch_size`` and compared at its fastest setting;
ours runs at its default batch size (the tuned one if this machine has measured it, else the
table's): the setting a user gets. Peak memory is measured per side in a fresh process (the
``--child`` mode): resident memory above the loaded model's, during one call.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch
from captum.attr import Deconvolution, GuidedBackprop, InputXGradient, IntegratedGradients, Saliency

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakRss, agreement, median_time, paired_times, write_table  # noqa: E402

from core.capture import CaptureCache  # noqa: E402
from core.methods import MethodContext, get_method  # noqa: E402
from core.models import load_model  # noqa: E402
from core.targets import ClassTarget  # noqa: E402

MODEL, TARGET, IG_STEPS = "resnet18", 3, 50
CAPTUM_IBS = (1, 5, 10, 25, 50)
PEAK_REPEATS = 3


def setup():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bundle = load_model(MODEL, weights="none", device=device)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(device)
    return bundle, x


def ours(bundle, x, name, **params):
    def call():
        ctx = MethodContext(bundle, x, ClassTarget(TARGET), cache=CaptureCache())
        return get_method(name)(ctx, **params).attribution
    return call


def peer(bundle, x, cls, **kwargs):
    return lambda: cls(bundle.net).attribute(x.clone().requires_grad_(), target=TARGET, **kwargs)


def ig_ours(bundle, x):
    return ours(bundle, x, "integrated_gradients", steps=IG_STEPS, baseline="zeros")


def ig_captum(bundle, x, ibs):
    return peer(bundle, x, IntegratedGradients, n_steps=IG_STEPS, baselines=torch.zeros_like(x),
                internal_batch_size=ibs)


def child(spec: dict) -> dict:
    """One IG call in this fresh process: peak resident MiB above the loaded model's."""
    from core.methods.folded import gradient_forward

    bundle, x = setup()
    twin_mb = 0.0
    if spec["side"] == "ours" and spec["twin_prebuilt"]:
        with PeakRss() as twin:
            gradient_forward(bundle, ClassTarget(TARGET), None)  # the folded copy fast_logits shares, made lean
        twin_mb = twin.above_start
    fn = ig_ours(bundle, x) if spec["side"] == "ours" else ig_captum(bundle, x, spec["ibs"])
    with PeakRss() as peak:
        fn()
    return {"peak_mb": peak.above_start, "twin_mb": twin_mb}


def measure_peak(repeats: int = PEAK_REPEATS, **spec) -> dict:
    """Median over ``repeats`` fresh processes (a first call's one-time allocations vary by ±20%)."""
    runs = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"child {spec} failed: {proc.stderr.strip()[-2000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def our_batch(bundle, x) -> str:
    from core.batch_tuning import DEFAULT_CACHE
    from core.batching import default_batch_size
    from core.methods.folded import gradient_forward
    from core.methods.gradients import gradient_tune_key

    key = gradient_tune_key(bundle, x.shape[1:], twin=gradient_forward(bundle, ClassTarget(TARGET), None) is not None)
    size = DEFAULT_CACHE.get(key)
    return f"tuned batch {size}" if size else f"table batch {default_batch_size(bundle.device, backward=True)}"


def main() -> None:
    bundle, x = setup()
    device = bundle.device.type
    cases = [
        ("saliency", ours(bundle, x, "saliency"), peer(bundle, x, Saliency, abs=True)),
        ("input_x_gradient", ours(bundle, x, "input_x_gradient"), peer(bundle, x, InputXGradient)),
        ("deconvnet", ours(bundle, x, "deconvnet", relu_scope="modules"), peer(bundle, x, Deconvolution)),
        ("guided_backprop", ours(bundle, x, "guided_backprop", relu_scope="modules"),
         peer(bundle, x, GuidedBackprop)),
    ]
    rows = []
    for name, mine, theirs in cases:
        t_ours, t_peer = paired_times(mine, theirs, repeats=15)
        r, diff = agreement(mine(), theirs())
        rows.append([name, f"{t_ours * 1e3:.1f} ms", f"{t_peer * 1e3:.1f} ms", f"{t_ours / t_peer:.2f}",
                     f"{r:.6f}", f"{diff:.2e}"])

    sweep = {}
    for ibs in CAPTUM_IBS:
        sweep[ibs] = median_time(ig_captum(bundle, x, ibs), repeats=1)
    best = min(sweep, key=sweep.get)
    mine, theirs = ig_ours(bundle, x), ig_captum(bundle, x, best)
    t_ours, t_peer = paired_times(mine, theirs, repeats=5)
    r, diff = agreement(mine(), theirs())
    batch = our_batch(bundle, x)
    rows.append([f"integrated_gradients {IG_STEPS} steps: time (ours {batch}, lean folded twin; "
                 f"captum internal_batch_size={best}, its fastest)", f"{t_ours * 1e3:.0f} ms",
                 f"{t_peer * 1e3:.0f} ms", f"{t_ours / t_peer:.2f}", f"{r:.6f}", f"{diff:.2e}"])

    peaks = {ibs: measure_peak(side="captum", ibs=ibs)["peak_mb"] for ibs in CAPTUM_IBS}
    warm = measure_peak(side="ours", twin_prebuilt=True)
    cold = measure_peak(side="ours", twin_prebuilt=False)
    rows.append([f"integrated_gradients {IG_STEPS} steps: peak memory above the loaded model (captum at "
                 f"internal_batch_size={best})", f"{warm['peak_mb']:.0f} MB", f"{peaks[best]:.0f} MB",
                 f"{warm['peak_mb'] / peaks[best]:.2f}", "", ""])
    rows.append(["… the same, ours building its folded twin inside the call (first gradient or "
                 "fast_logits use of a model)", f"{cold['peak_mb']:.0f} MB", f"{peaks[best]:.0f} MB",
                 f"{cold['peak_mb'] / peaks[best]:.2f}", "", ""])
    swept = "; ".join(f"{ibs}: {sweep[ibs] * 1e3:.0f} ms, {peaks[ibs]:.0f} MB" for ibs in CAPTUM_IBS)
    write_table("gradients", f"Gradient methods vs Captum ({MODEL}, 224×224, {device})",
                ["method", "ours", "captum", "ratio ours/captum (lower is better)", "Pearson", "max abs diff"],
                rows,
                "Times: medians of runs alternating ours and Captum (15, or 5 for IG) after one warm-up; "
                "random-init weights (seed 0); one image. Memory: peak resident memory above the loaded "
                f"model during one call, each the median of {PEAK_REPEATS} fresh processes (sampled every 10 ms, and the "
                "kernel's high-water mark); ours with the BatchNorm-folded twin already built, as after any "
                f"occlusion/RISE/metric run (building it took {warm['twin_mb']:.0f} MB once), and "
                "without it. Captum integrated gradients by internal_batch_size (one timed call after a warm-up; peak "
                f"memory): {swept}.")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        main()
