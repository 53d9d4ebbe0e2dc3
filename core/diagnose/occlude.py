"""Drag-to-occlude: the prediction with one patch of the image hidden (Zeiler & Fergus 2014, §4.2,
done interactively). One forward pass per request on the fused inference twin."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..methods.perturbation import fill_image


@dataclass
class OcclusionProbe:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in input pixels
    top: list[tuple[int, str, float]]  # top-k (index, label, probability)
    target_probability: float


class Occluder:
    """Holds the input and its fill image, so each probe costs one forward pass."""

    def __init__(self, bundle, x: torch.Tensor, fill: str = "grey", seed: int = 0):
        self.bundle = bundle
        self.x = x.to(bundle.device)
        self.fill = fill_image(bundle, self.x, fill, seed)

    def probe(self, box, target: int, k: int = 5) -> OcclusionProbe:
        h, w = self.x.shape[-2:]
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, x1 = max(0, min(x0, w)), max(0, min(x1, w))
        y0, y1 = max(0, min(y0, h)), max(0, min(y1, h))
        occluded = self.x.clone()
        occluded[..., y0:y1, x0:x1] = self.fill[..., y0:y1, x0:x1]
        with torch.inference_mode():
            probs = torch.softmax(self.bundle.fast_logits(occluded).float(), 1)[0]
        values, indices = torch.topk(probs, min(k, probs.numel()))
        top = [(int(i), self.bundle.label(int(i)), float(p)) for p, i in zip(values, indices)]
        return OcclusionProbe((x0, y0, x1, y1), top, float(probs[target]))
