"""Running a registered method on an image: the one entry point used by CLI and GUI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .capture import CaptureCache, split_call
from .jobs import Progress
from .layers import candidate_layers, default_layer, layer_before, layer_table
from .methods import MethodContext, get_method
from .targets import ClassTarget, Target, UnitTarget


@dataclass
class Explanation:
    """One attribution result, as plain data.

    ``map``: H×W float32 at input resolution, never normalised (rendering does that);
    ``attribution``: C×H×W per-channel values where the method has them; ``low_res``: the
    map at its native resolution (CAMs); ``prediction``: top-5 (index, label, probability).
    """

    method: str
    target: Target
    target_label: str
    params: dict[str, Any]
    map: np.ndarray
    image: np.ndarray
    prediction: list[tuple[int, str, float]]
    layer: str | None = None
    attribution: np.ndarray | None = None
    low_res: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready summary (no arrays)."""
        return {
            "method": self.method, "params": self.params, "layer": self.layer,
            "target": {"description": self.target.describe(self.target_label), **vars(self.target)},
            "prediction": [{"index": i, "label": lab, "probability": p} for i, lab, p in self.prediction],
            "map_shape": list(self.map.shape), "map_min": float(self.map.min()), "map_max": float(self.map.max()),
            "info": self.info, "timings_s": self.timings,
        }


def _numpy(t) -> np.ndarray | None:
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        t = t.detach().to("cpu", torch.float32).numpy()
    return np.ascontiguousarray(t, dtype=np.float32)


class Explainer:
    """A model and one image, with a capture cache shared by every method run on them."""

    def __init__(self, bundle, image: np.ndarray, cache: CaptureCache | None = None, prefetch: bool = False):
        """``prefetch``: the first layer method captures every candidate layer at once, so
        switching layer later is free (the GUI's choice; one-off CLI runs skip it)."""
        self.bundle = bundle
        self.prefetch = prefetch
        self._candidates: tuple[str, ...] | None = None
        t0 = time.perf_counter()
        self.display, self.x = bundle.prepare(image)
        self.prediction = bundle.predict(self.x, k=5)
        self.predict_time = time.perf_counter() - t0
        self.cache = cache or CaptureCache()
        self._layer_table = None

    @classmethod
    def from_input(cls, bundle, x: torch.Tensor, display: np.ndarray, cache: CaptureCache | None = None,
                   prefetch: bool = False) -> "Explainer":
        """An Explainer for an already prepared model input ``x`` (1×C×H×W, normalised; e.g. an
        adversarial example) shown as ``display`` (H×W×3 uint8, aligned pixel for pixel with ``x``).
        Nothing is resized or cropped again: the methods see exactly ``x``."""
        x = x.detach().to(bundle.device)
        display = np.ascontiguousarray(display)
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"expected a 1×C×H×W input, got {tuple(x.shape)}")
        if display.shape[:2] != tuple(x.shape[-2:]):
            raise ValueError(f"the display image is {display.shape[:2]}, the input {tuple(x.shape[-2:])}")
        self = cls.__new__(cls)
        self.bundle = bundle
        self.prefetch = prefetch
        self._candidates = None
        t0 = time.perf_counter()
        self.display, self.x = display, x
        self.prediction = bundle.predict(x, k=5)
        self.predict_time = time.perf_counter() - t0
        self.cache = cache or CaptureCache()
        self._layer_table = None
        return self

    def _table(self):
        if self._layer_table is None:
            self._layer_table = layer_table(self.bundle)
        return self._layer_table

    def default_layer(self) -> str:
        return default_layer(self.bundle, self._table())

    def candidate_layers(self) -> tuple[str, ...]:
        if self._candidates is None:
            self._candidates = tuple(candidate_layers(self._table()))
        return self._candidates

    def layer_for(self, target: Target) -> tuple[str, str | None]:
        """The default layer for ``target`` and a sentence when it is not the usual one: a unit's
        score has no gradient at a layer containing it or running after it, so a unit gets the
        last block before its own layer (its own layer when nothing runs before it)."""
        if not isinstance(target, UnitTarget):
            return self.default_layer(), None
        unit_layer = split_call(target.layer)[0]
        layer = layer_before(self._table(), unit_layer)
        if layer is None:
            return target.layer, f"layer {target.layer}: the unit's own layer (no block runs before it)"
        return layer, (f"layer {layer}: the last block before unit {target.layer}:{target.channel} "
                       "(a layer containing the unit or after it gets no gradient from it)")

    def _reuse_notes(self, layer: str | None, target: Target) -> list[str]:
        """Say which call is used for a module that runs several times in one forward."""
        names = list(dict.fromkeys(n for n in (layer, getattr(target, "layer", None)) if n))
        if not names or self.bundle.scripted:
            return []
        calls = {i.name: i.calls for i in self._table()}
        notes = []
        for name in names:
            module, call = split_call(name)
            if calls.get(module, 0) > 1:
                used = f"call {call}" if call else f"its last call ({calls[module]})"
                notes.append(f"layer {module} runs {calls[module]} times in one forward; {used} is used "
                             f"(choose another as {module}#K).")
        return notes

    def explain(self, method: str, target: Target | None = None, layer: str | None = None,
                params: dict[str, Any] | None = None, progress: Progress | None = None,
                seed: int = 0, partial=None) -> Explanation:
        """Run ``method`` for ``target`` (default: the predicted class)."""
        spec = get_method(method)
        values = spec.resolve(params)
        target = target if target is not None else ClassTarget(self.prediction[0][0])
        notes = []
        if spec.needs_layer and not layer:
            layer, note = self.layer_for(target)
            notes += [note] if note else []
        ctx = MethodContext(self.bundle, self.x, target, layer if spec.needs_layer else None,
                            progress or Progress(), self.cache, seed,
                            self.candidate_layers() if self.prefetch and spec.needs_layer else (), partial)
        t0 = time.perf_counter()
        out = spec.fn(ctx, **values)
        elapsed = time.perf_counter() - t0
        attr_map = _numpy(out.map)
        if attr_map.shape != tuple(self.x.shape[-2:]):
            raise RuntimeError(f"{method} returned a {attr_map.shape} map for a {tuple(self.x.shape[-2:])} input")
        if not np.isfinite(attr_map).all():
            out.info["warning"] = "the map has NaN/inf values (replaced by 0); the model may be unstable"
            attr_map = np.nan_to_num(attr_map, nan=0.0, posinf=0.0, neginf=0.0)
        elif not attr_map.any() and spec.output != "image":
            out.info["warning"] = (f"the map is zero everywhere: no evidence for {target.describe()} reaches "
                                   + (f"layer {ctx.layer}" if ctx.layer else "the input") +
                                   " (an inactive unit, a saturated score, or ReLU on an all-negative map)")
        notes += self._reuse_notes(ctx.layer, target)
        if notes:
            out.info["note"] = " ".join(notes)
        label = self.bundle.label(target.index) if isinstance(target, ClassTarget) else None
        return Explanation(method=method, target=target, target_label=label or "", params=values,
                           map=attr_map, image=self.display, prediction=self.prediction,
                           layer=ctx.layer, attribution=_numpy(out.attribution), low_res=_numpy(out.low_res),
                           info=out.info, timings={"predict": self.predict_time, "method": elapsed},
                           extras=out.extras)


def explain(bundle, image: np.ndarray, method: str, **kwargs) -> Explanation:
    """One-shot ``Explainer(bundle, image).explain(method, ...)``."""
    return Explainer(bundle, image).explain(method, **kwargs)
