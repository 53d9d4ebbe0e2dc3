"""Per-batch overhead (issue 20 item 2): how much of a perturbation job is *not* the network.

For occlusion, RISE and deletion/insertion at batch 1 and batch 8 (resnet18, 224×224): the whole
job's time against the time of the bare forward passes over the same number of inputs at the
same batch size (one pre-built batch, repeated, in channels_last from batch 4 as the jobs run). The difference is everything else: building
masks and perturbed batches, moving and reading scores, progress. Also the top operators by self
CPU time from ``torch.profiler`` for occlusion at batch 1 (the plain path: incremental
inference is switched off here). Writes bench/results/overhead.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_time, write_table  # noqa: E402

from core.batching import channels_last_call  # noqa: E402
from core.methods import MethodContext, get_method  # noqa: E402
from core.metrics.faithfulness import deletion_and_insertion  # noqa: E402
from core.models import load_model  # noqa: E402
from core.targets import ClassTarget  # noqa: E402

SIZE = 224
CAVEAT = ("Caveat (2026-11-27 run): the jobs came out *faster* than the bare forwards (negative shares), so the network's own time depends on the input values here (random weights on a repeated noise batch; masked batches are mostly constant) and this comparison cannot isolate the overhead to better than about ±40%. The profiler is the firmer evidence: at batch 1, convolutions and max-pooling take 93% of occlusion's self CPU time, element-wise and allocation ops the rest.")


def main() -> None:
    torch.set_flush_denormal(True)  # random weights drive activations into denormals, whose speed varies by input
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bundle = load_model("resnet18", weights="none", device=device)
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).to(device)
    attr = torch.rand(SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    jobs = {
        "occlusion 32/16": (lambda bs: get_method("occlusion")(MethodContext(bundle, x, ClassTarget(3)), window=32,
                                                              stride=16, progressive=False, incremental="off", batch_size=bs), 169),
        "RISE 256 masks": (lambda bs: get_method("rise")(MethodContext(bundle, x, ClassTarget(3)), masks=256,
                                                         batch_size=bs), 256),
        "deletion + insertion, 56 steps": (lambda bs: deletion_and_insertion(bundle, x, attr, target=3, step=SIZE * SIZE // 56,
                                                                             batch_size=bs), 114),
    }
    rows = []
    for label, (job, inputs) in jobs.items():
        for bs in (1, 8):
            batch = x.expand(bs, -1, -1, -1).contiguous()

            def forwards(bs=bs, batch=batch, inputs=inputs):
                with torch.inference_mode():
                    for _ in range(-(-inputs // bs)):
                        channels_last_call(bundle, bundle.fast_logits, batch)  # as the jobs run it

            t_job = median_time(lambda: job(bs), repeats=2)
            t_net = median_time(forwards, repeats=2)
            rows.append([label, bs, inputs, f"{t_job * 1e3:.0f}", f"{t_net * 1e3:.0f}",
                         f"{(t_job - t_net) / t_job:.0%}"])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        jobs["occlusion 32/16"][0](1)
    top = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8)
    write_table("overhead", f"Per-batch overhead of perturbation jobs (resnet18 {SIZE}×{SIZE}, {device})",
                ["job", "batch", "inputs", "job ms", "bare forwards ms", "share not in the network"], rows,
                "Median of 2 after one warm-up. 'bare forwards': the same number of inputs through the network at the same batch "
                "size, one pre-built batch repeated. Top operators of occlusion at batch 1 (torch.profiler, self "
                f"CPU time):\n\n```\n{top}\n```\n\n{CAVEAT}")


if __name__ == "__main__":
    main()
