"""Batch-size tuning (core.batch_tuning) on this device: what the search measured per candidate,
which size it chose, and the whole job's time at the tuned size against the fixed table's size.

resnet50 224×224, random-init weights: occlusion 16/8 (forward only, 729 windows) and SmoothGrad
with 700 samples (forward + backward). Writes bench/results/tuning_<device>.md.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_time, write_table  # noqa: E402

from core import batch_tuning  # noqa: E402
from core.batching import default_batch_size  # noqa: E402
from core.methods import MethodContext, get_method  # noqa: E402
from core.models import load_model  # noqa: E402
from core.targets import ClassTarget  # noqa: E402

JOBS = {"occlusion 16/8 (forward)": ("occlusion", {"window": 16, "stride": 8, "progressive": False}, False),
        "SmoothGrad 700 samples (forward + backward)": ("smoothgrad", {"samples": 700}, True)}
MODEL, SIZE = os.environ.get("BENCH_MODEL", "resnet50"), int(os.environ.get("BENCH_SIZE", "224"))


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cache = batch_tuning.BatchSizeCache(Path(tempfile.mkdtemp()) / "sizes.json")
    batch_tuning.DEFAULT_CACHE = cache
    bundle = load_model(MODEL, weights="none", device=device)
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)).to(device)
    rows = []
    for label, (method, params, backward) in JOBS.items():
        def run(bs, method=method, params=params):
            ctx = MethodContext(bundle, x, ClassTarget(3))
            return get_method(method)(ctx, batch_size=bs, **params).map

        run(0)  # the search runs inside this first job
        key = batch_tuning.tune_key(bundle, x.shape[1:], backward)
        entry = json.loads(cache.path.read_text()).get(key.token(), {}) if cache.path.exists() else {}
        tuned = cache.get(key)
        table = default_batch_size(device, backward)
        t_tuned = median_time(lambda: run(0), repeats=3)
        t_table = median_time(lambda: run(table), repeats=3)
        measured = ", ".join(f"{b}: {ms:.2f}" for b, ms in sorted(entry.get("ms_per_input", {}).items(),
                                                                  key=lambda kv: int(kv[0])))
        rows.append([label, measured, tuned, table, f"{t_tuned * 1e3:.0f}", f"{t_table * 1e3:.0f}",
                     f"{t_tuned / t_table:.2f}"])
    name = "cuda" if device == "cuda" else "cpu"
    write_table(f"tuning_{name}", f"Batch sizes measured on the job ({device}, {MODEL} {SIZE}×{SIZE})",
                ["job", "ms per input by batch size (the search)", "tuned", "table", "job ms tuned",
                 "job ms table", "ratio tuned/table"], rows,
                "The search runs on the job's first batches (nothing is computed twice); median of 3 "
                "later jobs at each size.")


if __name__ == "__main__":
    main()
