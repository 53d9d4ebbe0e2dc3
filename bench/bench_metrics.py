"""Faithfulness metrics: deletion + insertion on resnet50 vs torchcam's DeletionInsertionMetric.

Matched settings: Grad-CAM at layer4 for the predicted class, softmax score, 224 steps of 224
pixels each, zeros baseline for deletion and as the insertion start (torchcam has no blurred
start), both curves from one stream, batch 32 for torchcam. Each side computes its own Grad-CAM.
Quantus (PixelFlipping / RegionPerturbation) is not run: it requires opencv-python, which
clashes with the opencv-python-headless this project ships.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import paired_times, write_table  # noqa: E402

from core.batching import default_batch_size  # noqa: E402
from core.capture import CaptureCache  # noqa: E402
from core.methods import MethodContext, get_method  # noqa: E402
from core.metrics.faithfulness import deletion_and_insertion  # noqa: E402
from core.models import load_model  # noqa: E402
from core.targets import ClassTarget  # noqa: E402


def torchcam():
    try:
        import torchcam  # noqa: F401
    except ImportError:
        sys.exit("torchcam is missing: run 'make bench' (it installs the benchmark peers)")
    from torchcam.methods import GradCAM
    from torchcam.metrics import DeletionInsertionMetric
    return GradCAM, DeletionInsertionMetric


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    GradCAM, DeletionInsertionMetric = torchcam()
    bundle = load_model("resnet50", weights="none", device=device)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.inference_mode():
        predicted = int(bundle(x).argmax(1))

    def ours():
        ctx = MethodContext(bundle, x, ClassTarget(predicted), layer="layer4", cache=CaptureCache())
        cam = get_method("gradcam")(ctx).map
        res = deletion_and_insertion(bundle, x, cam, step=224, insertion_start="fill")
        return res["deletion"].value, res["insertion"].value

    def peer():
        with GradCAM(bundle.net, "layer4") as extractor:
            metric = DeletionInsertionMetric(extractor, partial(torch.softmax, dim=-1), steps=224, batch_size=32)
            metric.update(x)
            out = metric.summary()
        return out["deletion_auc"], out["insertion_auc"]

    t_ours, t_peer = paired_times(ours, peer, repeats=3)
    (d1, i1), (d2, i2) = ours(), peer()
    rows = [["deletion + insertion, Grad-CAM, resnet50 (224 steps each)", "torchcam 0.5.0",
             f"{t_ours * 1e3:.0f}", f"{t_peer * 1e3:.0f}", f"{t_ours / t_peer:.2f}",
             f"deletion {d1:.4f} vs {d2:.4f}; insertion {i1:.4f} vs {i2:.4f}"]]
    write_table("metrics", f"Faithfulness metrics vs peers (224×224, {device}; our batch "
                f"{default_batch_size(device, backward=False)})",
                ["task", "peer", "ours ms", "peer ms", "ratio ours/peer", "results"], rows,
                "Medians of runs alternating ours and the peer; random-init weights (seed 0).")


if __name__ == "__main__":
    main()
