"""GPU check for timm and Hugging Face-style models: Grad-CAM at each family's default layer on
CUDA against the CPU map (Pearson ≥ 0.999), the detected layout, the time per map; a Hugging Face
ViT (random init from a config, when transformers is installed) whose layers return tuples and
whose output is a ModelOutput; and a long session on CUDA (GPU memory back to its level after each
cycle). Without CUDA it says so and exits 0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_table  # noqa: E402

from core.explain import Explainer  # noqa: E402
from core.health import soak  # noqa: E402
from core.layers import layer_table  # noqa: E402
from core.models import ModelBundle, Preprocess, load_model  # noqa: E402

MODELS = [("timm:resnet10t", None), ("timm:convnext_atto", None), ("timm:efficientnet_b0", None),
          ("timm:vit_tiny_patch16_224", None), ("timm:deit_tiny_distilled_patch16_224", None),
          ("timm:swin_tiny_patch4_window7_224", None)]
IMAGE = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)


def gradcam(bundle):
    explainer = Explainer(bundle, IMAGE)
    layer = explainer.default_layer()
    explainer.explain("gradcam", layer=layer)  # warm-up (and capture)
    explainer.cache.clear()
    if bundle.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = explainer.explain("gradcam", layer=layer)
    if bundle.device.type == "cuda":
        torch.cuda.synchronize()
    layout = {i.name: i.layout for i in layer_table(bundle)}[layer]
    return out.map, layer, layout, (time.perf_counter() - t0) * 1000


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two maps."""
    return float(np.corrcoef(np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel())[0, 1])


def hf_vit():
    """A small transformers ViT (random init from a config; nothing downloaded), or None."""
    try:
        from transformers import ViTConfig, ViTForImageClassification
    except ImportError:
        return None
    torch.manual_seed(0)
    config = ViTConfig(image_size=64, patch_size=16, num_hidden_layers=2, hidden_size=64, num_attention_heads=2,
                       intermediate_size=128, num_labels=5)
    return ViTForImageClassification(config).eval()


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    rows, ok = [], True
    for spec, options in MODELS:
        cpu = load_model(spec, "none", options=options)
        cuda = load_model(spec, "none", options=options, device="cuda")
        m_cpu, layer, layout, t_cpu = gradcam(cpu)
        m_gpu, layer_gpu, _, t_gpu = gradcam(cuda)
        r = agreement(m_cpu, m_gpu)
        ok &= r >= 0.999 and layer == layer_gpu
        rows.append([spec, layer, layout.describe(), f"{r:.5f}", f"{t_cpu:.1f}", f"{t_gpu:.1f}"])
    net = hf_vit()
    if net is not None:
        pre = Preprocess(crop=(64, 64), resize=None, mean=(0.5,) * 3, std=(0.5,) * 3)
        m_cpu, layer, layout, t_cpu = gradcam(ModelBundle(net, preprocess=pre, name="hf-vit"))
        m_gpu, _, _, t_gpu = gradcam(ModelBundle(net, preprocess=pre, name="hf-vit", device=torch.device("cuda")))
        r = agreement(m_cpu, m_gpu)
        ok &= r >= 0.999 and layout.kind == "tokens" and layout.prefix == 1 and bool(np.abs(m_gpu).max() > 0)
        rows.append(["transformers ViTForImageClassification", layer, layout.describe(), f"{r:.5f}",
                     f"{t_cpu:.1f}", f"{t_gpu:.1f}"])
    sources = [dict(spec="resnet18", weights="none", device="cuda"), dict(spec="demo", device="cuda"),
               dict(spec="timm:convnext_atto", weights="none", device="cuda"),
               dict(spec="timm:vit_tiny_patch16_224", weights="none", device="cuda"),
               dict(spec="timm:swin_tiny_patch4_window7_224", weights="none", device="cuda")]
    report = soak(sources, IMAGE, cycles=4, per_model=25)
    gpu_mib = " → ".join(f"{g / 2 ** 20:.0f}" for g in report.gpu)
    healthy = not report.hooks and not report.not_freed and max(report.gpu) <= report.gpu[0] * 1.10 + 2 ** 20 \
        and (report.growth is None or report.growth <= 1.10)
    ok &= healthy
    rows.append([f"long session: {report.models} models, {report.explanations} explanations", "—",
                 f"GPU MiB after each cycle {gpu_mib}; RSS growth {((report.growth or 1) - 1) * 100:+.1f}%",
                 "pass" if healthy else "FAIL", "—", "—"])
    write_table("gpu_timm", "timm and Hugging Face-style models on CUDA vs CPU",
                ["model", "default layer", "layout", "Pearson CPU/GPU (≥ 0.999)", "CPU ms", "GPU ms"], rows,
                notes=f"{torch.cuda.get_device_name(0)}; random init, Grad-CAM on a 256×256 image preprocessed "
                      "by each model's own config; time of one Grad-CAM without cache.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
