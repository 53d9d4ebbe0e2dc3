"""Drag-to-occlude: the prediction with one patch of the image hidden (Zeiler & Fergus 2014, §4.2,
done interactively). Where the model allows, each probe recomputes only the part of each layer the
patch changes, from the unoccluded image's cached activations (Nakandala, Kumar & Papakonstantinou
2019, Krypton; ``core.methods.incremental``); otherwise one forward pass on the fused twin."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ..methods.incremental import plan, too_costly
from ..methods.perturbation import fill_image


@dataclass
class OcclusionProbe:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in input pixels
    top: list[tuple[int, str, float]]  # top-k (index, label, probability)
    target_probability: float
    path: str = "plain"  # "incremental" (only the changed regions recomputed) or "plain" (a full forward)


class Occluder:
    """Holds the input, its fill image and, where the model allows, the incremental engine (model
    traced and the unoccluded forward run once, here). ``path`` says how the last probe ran and
    ``reason`` why it was not incremental ("" when it was)."""

    def __init__(self, bundle, x: torch.Tensor, fill: str = "grey", seed: int = 0, incremental: str = "auto"):
        self.bundle = bundle
        self.x = x.to(bundle.device)
        self.fill = fill_image(bundle, self.x, fill, seed)
        self.engine, info = plan(bundle, self.x, None, None, incremental)
        self.path, self.reason = info["path"], info.get("path_reason", "")

    def with_fill(self, fill: str, seed: int = 0) -> "Occluder":
        """The same input hidden by another fill, sharing the traced model and its unoccluded pass
        (the engine's cache does not depend on the fill): no new trace, no new full forward."""
        other = copy.copy(self)
        other.fill = fill_image(self.bundle, self.x, fill, seed)
        return other

    def probe(self, box, target: int, k: int = 5) -> OcclusionProbe:
        h, w = self.x.shape[-2:]
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, x1 = max(0, min(x0, w)), max(0, min(x1, w))
        y0, y1 = max(0, min(y0, h)), max(0, min(y1, h))
        with torch.inference_mode():
            probs = self.bundle.probabilities(self._logits((y0, x0, max(y0, y1), max(x0, x1))))[0]
        values, indices = torch.topk(probs, min(k, probs.numel()))
        top = [(int(i), self.bundle.label(int(i)), float(p)) for p, i in zip(values, indices)]
        return OcclusionProbe((x0, y0, x1, y1), top, float(probs[target]), self.path)

    def _logits(self, box: tuple[int, int, int, int]) -> torch.Tensor:
        """Logits with rows y0:y1, columns x0:x1 of ``box`` = (y0, x0, y1, x1) filled."""
        if self.engine is not None:
            why = too_costly(self.engine.estimate([box]))
            if why is None:
                try:
                    logits = self.engine.logits([box], self.fill)
                    self.path, self.reason = "incremental", ""
                    return logits
                except Exception as exc:  # noqa: BLE001 (a model the engine misreads still gets its answer)
                    self.engine = None
                    self.reason = f"the incremental engine failed ({type(exc).__name__}: {exc})"
            else:
                self.reason = f"for this patch, {why}"
        self.path = "plain"
        y0, x0, y1, x1 = box
        occluded = self.x.clone()
        occluded[..., y0:y1, x0:x1] = self.fill[..., y0:y1, x0:x1]
        return self.bundle.fast_logits(occluded)
