"""Counterfactual view of a mistake: the explanation of the predicted class beside the true
class's, on the same input (cf. the class-discriminative maps of Selvaraju et al. 2017, §3 and
the counterfactual explanations of §5.3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..explain import Explainer, Explanation
from ..images import load_image
from ..jobs import Progress, ensure_progress
from ..methods import get_method
from ..render import grid, overlay
from ..targets import ClassTarget


@dataclass
class Counterfactual:
    predicted: Explanation  # the map for the class the model chose
    true: Explanation  # the map for the class it should have chosen
    image: np.ndarray  # captioned grid: input, predicted-class overlay, true-class overlay (H×W×3 uint8)


def counterfactual(bundle, image_or_explainer, predicted: int, true_class: int, method: str = "gradcam",
                   layer: str | None = None, params: dict[str, Any] | None = None, *, title: str | None = None,
                   seed: int = 0, progress: Progress | None = None, alpha: float = 0.5,
                   cmap: str | None = None) -> Counterfactual:
    """Explain ``predicted`` and ``true_class`` with ``method`` on one image.

    ``image_or_explainer``: an image file, an H×W×3 RGB uint8 array, or an ``Explainer`` already
    holding the input (its capture cache is reused). ``layer`` only matters to layer methods.
    ``title`` captions the input panel (default: the file name, else "input"); ``alpha`` and
    ``cmap`` style the overlays (``core.render.overlay``)."""
    if get_method(method).output == "image":
        raise ValueError(f"{method} synthesises an image; it has no map of this input to compare")
    if isinstance(image_or_explainer, Explainer):
        explainer = image_or_explainer
    else:
        if isinstance(image_or_explainer, (str, Path)):
            title = title or Path(image_or_explainer).name
            image_or_explainer = load_image(image_or_explainer)
        explainer = Explainer(bundle, image_or_explainer)
    progress = ensure_progress(progress, 2)
    maps = []
    for cls in (predicted, true_class):
        progress.check()
        maps.append(explainer.explain(method, target=ClassTarget(int(cls)), layer=layer, params=params, seed=seed))
        progress.step(message=f"{method} for {bundle.label(int(cls))}")
    style = {"cmap": cmap} if cmap else {}
    panels = [(title or "input", explainer.display)]
    for caption, cls, res in (("predicted", predicted, maps[0]), ("true", true_class, maps[1])):
        panels.append((f"{caption}: {bundle.label(int(cls))}", overlay(res.image, res.map, alpha, **style)))
    image = grid(panels, cols=3, scale=1 if explainer.display.shape[0] > 160 else 2)
    return Counterfactual(maps[0], maps[1], image)
