"""Regenerate docs/methods.png: several methods on a demo image, composited by core.render."""

from pathlib import Path

from core.explain import Explainer
from core.images import load_image
from core.models import load_model
from core.render import grid, overlay, save_png

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    bundle = load_model("demo")
    image = load_image(ROOT / "resources/images/demo/clean_star.png")
    explainer = Explainer(bundle, image, prefetch=True)
    panels = [(f"input: {explainer.prediction[0][1]} {explainer.prediction[0][2]:.0%}", explainer.display)]
    for method in ("gradcam", "gradcam_pp", "scorecam", "guided_backprop", "integrated_gradients", "smoothgrad",
                   "eigencam"):
        result = explainer.explain(method)
        panels.append((method, overlay(result.image, result.map, alpha=0.55)))
    save_png(ROOT / "docs/methods.png", grid(panels, cols=4, scale=2))


if __name__ == "__main__":
    main()
