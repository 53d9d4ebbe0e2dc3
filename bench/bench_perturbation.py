"""Perturbation methods: occlusion vs Captum, RISE vs TorchRay; same model, input, device, run.

Occlusion (window 16, stride 8) is compared against Captum's ``Occlusion`` at its best
``perturbations_per_eval`` from a sweep (1 to 64); RISE (4000 masks) against TorchRay's ``rise``
at its best batch size, fed the very same masks (``filter_masks``) and the same sigmoid score,
so the maps must agree. Ours runs at the batch size it measures itself (core.batch_tuning): the
setting a user gets.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from captum.attr import Occlusion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import agreement, median_time, paired_times, tuned_batch, write_table  # noqa: E402

from core.methods import MethodContext, get_method  # noqa: E402
from core.methods.perturbation import RiseMasks, fill_image  # noqa: E402
from core.models import load_model  # noqa: E402
from core.targets import ClassTarget  # noqa: E402

TARGET, MASKS = 3, 4000


def torchray_rise():
    try:
        from torchray.attribution.rise import rise
    except ImportError:
        sys.exit("TorchRay is missing: run 'make bench' (it installs the benchmark peers)")
    return rise


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bundle = load_model("resnet18", weights="none", device=device)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(device)
    rows = []

    def ours_occ():
        ctx = MethodContext(bundle, x, ClassTarget(TARGET))
        return get_method("occlusion")(ctx, window=16, stride=8, fill="mean", progressive=False).map

    baseline = fill_image(bundle, x, "mean")
    best = None
    for ppe in (1, 8, 16, 32, 64):
        fn = lambda ppe=ppe: Occlusion(bundle.net).attribute(  # noqa: E731
            x, sliding_window_shapes=(3, 16, 16), strides=(3, 8, 8), baselines=baseline, target=TARGET,
            perturbations_per_eval=ppe)[0, 0]
        t = median_time(fn, repeats=1, warmup=0)
        if best is None or t < best[0]:
            best = (t, ppe, fn)
    t_ours, t_peer = paired_times(ours_occ, best[2], repeats=3)
    r, diff = agreement(ours_occ(), best[2]())
    rows.append([f"occlusion 16/8, resnet18 (ours {tuned_batch(bundle, x.shape[1:])}, "
                 f"captum perturbations_per_eval={best[1]})", "captum Occlusion", f"{t_ours * 1e3:.0f}",
                 f"{t_peer * 1e3:.0f}", f"{t_ours / t_peer:.2f}", f"Pearson {r:.6f}, max diff {diff:.1e}"])

    rise = torchray_rise()
    masks = RiseMasks(MASKS, 7, 0.5, (224, 224), seed=0).batch(0, MASKS, device)

    def ours_rise():
        ctx = MethodContext(bundle, x, ClassTarget(TARGET))
        return get_method("rise")(ctx, masks=MASKS, score="sigmoid").map

    best = None
    for bs in (16, 32, 64, 128):
        fn = lambda bs=bs: rise(bundle.net, x, filter_masks=masks, num_masks=MASKS, batch_size=bs)[0, TARGET]  # noqa: E731
        t = median_time(fn, repeats=1, warmup=1 if device == "cuda" else 0)
        if best is None or t < best[0]:
            best = (t, bs, fn)
    peer_rise, rise_bs = best[2], best[1]

    t_ours, t_peer = paired_times(ours_rise, peer_rise, repeats=1)
    r, diff = agreement(ours_rise() * 0.5, peer_rise())  # TorchRay divides by N, the paper by N·p
    rows.append([f"RISE {MASKS} masks, resnet18 (ours {tuned_batch(bundle, x.shape[1:])}, "
                 f"TorchRay batch {rise_bs}, same masks)", "TorchRay rise", f"{t_ours * 1e3:.0f}", f"{t_peer * 1e3:.0f}",
                 f"{t_ours / t_peer:.2f}", f"Pearson {r:.6f}, max diff {diff:.1e}"])
    write_table("perturbation", f"Perturbation methods vs peers (224×224, {device})",
                ["task", "peer", "ours ms", "peer ms", "ratio ours/peer", "agreement"], rows,
                "Medians of runs alternating ours and the peer; random-init weights (seed 0).")


if __name__ == "__main__":
    main()
