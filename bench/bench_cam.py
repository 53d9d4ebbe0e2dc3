"""CAM family: ours against pytorch-grad-cam and Captum on the same model, input and device.

1. Five CAM variants (Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM, Eigen-CAM) at one layer and at
   four layers of resnet50: ours shares one captured pass; pytorch-grad-cam runs each variant.
2. A single Grad-CAM: ours (backward stops at the layer) vs Captum's LayerGradCam and
   pytorch-grad-cam's GradCAM.
3. Score-CAM on resnet18 layer4 at equal results (our pytorch-grad-cam variant).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from captum.attr import LayerGradCam
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import agreement, paired_times, write_table  # noqa: E402

from core.capture import CaptureCache, get_layer  # noqa: E402
from core.methods import MethodContext, get_method  # noqa: E402
from core.models import load_model  # noqa: E402
from core.targets import ClassTarget  # noqa: E402

TARGET = 3
VARIANTS = {"gradcam": (GradCAM, {}), "gradcam_pp": (GradCAMPlusPlus, {"alpha_norm": False}),
            "xgradcam": (XGradCAM, {}), "layercam": (LayerCAM, {}), "eigencam": (EigenCAM, {})}


def peer_cam(cls, bundle, layers, x):
    modules = [get_layer(bundle.net, name) for name in layers]
    with cls(model=bundle.net, target_layers=modules) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(TARGET)])[0]


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    r50 = load_model("resnet50", weights="none", device=device)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(device)

    for layers in (["layer4"], ["layer1", "layer2", "layer3", "layer4"]):
        def ours_set():
            cache = CaptureCache()
            for name, (_, params) in VARIANTS.items():
                for layer in layers:
                    ctx = MethodContext(r50, x, ClassTarget(TARGET), layer=layer, cache=cache,
                                        prefetch_layers=tuple(layers))
                    get_method(name)(ctx, **params)

        def peer_set():
            for cls, _ in VARIANTS.values():
                peer_cam(cls, r50, layers, x)

        t_ours, t_peer = paired_times(ours_set, peer_set, repeats=5)
        rows.append([f"5 CAM variants × {len(layers)} layer(s), resnet50", "pytorch-grad-cam",
                     f"{t_ours * 1e3:.0f}", f"{t_peer * 1e3:.0f}", f"{t_peer / t_ours:.2f}×", "—"])

    with torch.inference_mode():
        predicted = int(r50(x).argmax(1))  # its Grad-CAM is not all zero, so agreement means something

    def ours_gradcam():
        ctx = MethodContext(r50, x, ClassTarget(predicted), layer="layer4", cache=CaptureCache())
        return get_method("gradcam")(ctx).low_res

    captum_fn = lambda: LayerGradCam(r50.net, r50.net.layer4).attribute(  # noqa: E731
        x, target=predicted, relu_attributions=True)[0, 0]
    t_ours, t_peer = paired_times(ours_gradcam, captum_fn, repeats=11)
    r, diff = agreement(ours_gradcam(), captum_fn())
    rows.append(["Grad-CAM, resnet50 layer4", "captum LayerGradCam", f"{t_ours * 1e3:.0f}", f"{t_peer * 1e3:.0f}",
                 f"{t_peer / t_ours:.2f}×", f"Pearson {r:.6f}, max diff {diff:.1e}"])
    t_ours, t_peer = paired_times(ours_gradcam, lambda: peer_cam(GradCAM, r50, ["layer4"], x), repeats=11)
    rows.append(["Grad-CAM, resnet50 layer4", "pytorch-grad-cam GradCAM", f"{t_ours * 1e3:.0f}",
                 f"{t_peer * 1e3:.0f}", f"{t_peer / t_ours:.2f}×", "—"])

    r18 = load_model("resnet18", weights="none", device=device)

    def ours_score():
        ctx = MethodContext(r18, x, ClassTarget(TARGET), layer="layer4", cache=CaptureCache())
        return get_method("scorecam")(ctx, variant="pytorch-grad-cam").map

    def peer_score():
        with ScoreCAM(model=r18.net, target_layers=[r18.net.layer4]) as cam:
            return torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(TARGET)])[0])

    t_ours, t_peer = paired_times(ours_score, peer_score, repeats=3)
    r, _ = agreement(ours_score(), peer_score())
    rows.append(["Score-CAM, resnet18 layer4 (512 masks)", "pytorch-grad-cam ScoreCAM", f"{t_ours * 1e3:.0f}",
                 f"{t_peer * 1e3:.0f}", f"{t_peer / t_ours:.2f}×", f"Pearson {r:.6f}"])
    # A trained network: many channels are constant (dead ReLUs) for a given image, and ours
    # scores all of them with one shared forward.
    demo = load_model("demo", device=device)
    from core.images import load_image  # noqa: E402
    _, xd = demo.prepare(load_image(Path(__file__).resolve().parents[1] / "resources/images/demo/clean_star.png"))

    def ours_demo():
        ctx = MethodContext(demo, xd, ClassTarget(3), layer="features.6", cache=CaptureCache())
        out = get_method("scorecam")(ctx, variant="pytorch-grad-cam")
        ours_demo.passes = out.info["forward_passes"]
        return out.map

    def peer_demo():
        with ScoreCAM(model=demo.net, target_layers=[demo.net.features[6]]) as cam:
            return torch.from_numpy(cam(input_tensor=xd, targets=[ClassifierOutputTarget(3)])[0])

    t_ours, t_peer = paired_times(ours_demo, peer_demo, repeats=3)
    r, _ = agreement(ours_demo(), peer_demo())
    rows.append([f"Score-CAM, trained demo model features.6 (192 masks; ours ran {ours_demo.passes} forwards)",
                 "pytorch-grad-cam ScoreCAM", f"{t_ours * 1e3:.0f}", f"{t_peer * 1e3:.0f}",
                 f"{t_peer / t_ours:.2f}×", f"Pearson {r:.6f}"])
    write_table("cam", f"CAM family vs peers (224×224, {device})",
                ["task", "peer", "ours ms", "peer ms", "speed-up", "agreement"], rows,
                "Medians of runs alternating ours and the peer; random-init weights (seed 0). Ours starts "
                "each repeat with an empty capture cache.")


if __name__ == "__main__":
    main()
