"""A long session, full size: 20 models loaded in turn (torchvision zoo, bundled demo, timm by
name, a pickled model file, a timm architecture with a safetensors state dict) at their own input
sizes, 500 explanations in one process. Pass: resident memory after the last cycle within 10% of
after the first, no hook left on any model, every replaced model freed (weak reference).

tests/test_health.py runs the same check scaled down to seconds.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_table  # noqa: E402

from core.health import soak  # noqa: E402
from core.models import load_model  # noqa: E402

CYCLES, PER_MODEL = 4, 25  # 4 × 5 sources = 20 models, 20 × 25 = 500 explanations


def sources(folder: Path) -> list[dict]:
    import timm
    from safetensors.torch import save_file

    pickled = folder / "demo_copy.pt"
    torch.save(load_model("demo").net, pickled)
    weights = folder / "convnext_atto.safetensors"
    save_file(timm.create_model("convnext_atto").state_dict(), str(weights))
    return [dict(spec="resnet18", weights="none"), dict(spec="demo"),
            dict(spec="timm:resnet10t", weights="none"), dict(spec=str(pickled), trust=True),
            dict(spec="timm:convnext_atto", weights=str(weights))]


def main() -> int:
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        report = soak(sources(Path(tmp)), image, cycles=CYCLES, per_model=PER_MODEL)
        elapsed = time.perf_counter() - started
    mib = [f"{r / 2 ** 20:.0f}" if r else "n/a" for r in report.rss]
    ok = (report.growth is None or report.growth <= 1.10) and not report.hooks and not report.not_freed
    rows = [[report.models, report.explanations, " → ".join(mib),
             f"{(report.growth - 1) * 100:+.1f}%" if report.growth else "n/a",
             len(report.hooks), len(report.not_freed), f"{elapsed:.0f}", "pass" if ok else "FAIL"]]
    write_table("health", "A long session: 20 models in turn, 500 explanations",
                ["models", "explanations", "RSS after each cycle (MiB)", "growth after cycle 1 (≤ +10%)",
                 "hooks left", "models not freed", "seconds", "verdict"], rows,
                notes="Sources per cycle: resnet18 (random init), demo, timm:resnet10t, a pickled model file, "
                      "timm:convnext_atto from a safetensors file; methods gradcam, saliency, layercam, "
                      "input_x_gradient, gradcam_pp in turn, each on another class.")
    for line in report.hooks + [f"not freed: {n}" for n in report.not_freed]:
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
