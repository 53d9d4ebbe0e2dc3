"""The method registry: each attribution method registered once with its schema.

The CLI and the GUI build their lists and parameter forms from here; nothing lists methods
or families by hand a second time. Besides the parameters, each entry says what a person who
does not program needs: a plain sentence, a cost class (``instant`` methods rerun on every
change), the number of network passes for given values (for a time estimate), and whether it
produces a map or a synthesised image. Parameters carry a label, a basic/advanced flag and the
values of other parameters under which they matter. A method is
``fn(ctx: MethodContext, **params) -> MethodOutput``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..capture import CaptureCache
from ..params import CONDITION_OPS, PARAM_KINDS, Param, ParamSchema  # noqa: F401 (re-exported)
from ..jobs import Progress
from ..precision import set_gpu_precision
from ..targets import Target

COST_CLASSES = ("instant", "seconds", "minutes")  # for default parameters on a typical CPU
OUTPUT_KINDS = ("map", "image")  # "image": the method synthesises an image (extras["image"])
CHANNELS_GUESS = 512  # channels of a layer before it is captured (e.g. ResNet-18's last block)


@dataclass
class MethodContext:
    """What a method runs on: model, one input, target, optional layer, progress, cache."""

    bundle: Any
    x: torch.Tensor
    target: Target
    layer: str | None = None
    progress: Progress = field(default_factory=Progress)
    cache: CaptureCache = field(default_factory=CaptureCache)
    seed: int = 0
    prefetch_layers: tuple[str, ...] = ()  # captured along with ``layer`` so switching is free
    partial: Callable[["MethodOutput"], None] | None = None  # receives intermediate maps

    def __post_init__(self):
        set_gpu_precision(self.x.device)  # full float32 on CUDA unless the user allows TF32


@dataclass
class MethodOutput:
    """A method's result: H×W ``map``, optional C×H×W ``attribution`` and low-res map."""

    map: torch.Tensor | np.ndarray
    attribution: torch.Tensor | np.ndarray | None = None
    low_res: torch.Tensor | np.ndarray | None = None
    info: dict = field(default_factory=dict)  # JSON-ready facts (numbers, strings)
    extras: dict = field(default_factory=dict)  # arrays kept for the GUI (e.g. RISE's per-class maps)


@dataclass(frozen=True)
class MethodSpec(ParamSchema):
    """A registered method: identity, citation, formula ``summary``, plain ``description``,
    ``cost`` class, ``output`` kind, parameters, pass count and the function to call."""

    kind_word = "method"

    name: str
    label: str
    family: str
    citation: str
    summary: str
    params: tuple[Param, ...]
    fn: Callable[..., MethodOutput]
    needs_layer: bool = False
    description: str = ""
    cost: str = "seconds"
    output: str = "map"
    passes_fn: Callable[[dict, tuple[int, int], int], int] | None = None

    @property
    def auto_run(self) -> bool:
        """Cheap enough to rerun on every change (``cost == "instant"``)."""
        return self.cost == "instant"

    def passes(self, values: dict[str, Any] | None = None, input_hw: tuple[int, int] = (224, 224),
               *, channels: int | None = None) -> int:
        """Estimated network passes (forward, or forward + backward) of one input for
        ``values`` (defaults filled in); ``channels`` of the layer when known (Score-CAM)."""
        if self.passes_fn is None:
            return 1
        n = self.passes_fn(self.resolve(values), tuple(input_hw), channels or CHANNELS_GUESS)
        return max(1, int(n))

    def basic_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.advanced)

    def advanced_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.advanced)

    def to_dict(self, input_hw: tuple[int, int] = (224, 224)) -> dict:
        """JSON-ready schema (``passes`` at the defaults for ``input_hw``)."""
        return {"name": self.name, "label": self.label, "family": self.family, "description": self.description,
                "summary": self.summary, "citation": self.citation, "needs_layer": self.needs_layer,
                "cost": self.cost, "output": self.output, "passes": self.passes(None, input_hw),
                "passes_input_hw": list(input_hw), "params": [p.to_dict() for p in self.params]}

    def __call__(self, ctx: MethodContext, **params) -> MethodOutput:
        return self.fn(ctx, **self.resolve(params))


REGISTRY: dict[str, MethodSpec] = {}


def _check(name: str, params: tuple[Param, ...], cost: str, output: str) -> None:
    if cost not in COST_CLASSES:
        raise ValueError(f"method {name!r}: cost must be one of {COST_CLASSES}, not {cost!r}")
    if output not in OUTPUT_KINDS:
        raise ValueError(f"method {name!r}: output must be one of {OUTPUT_KINDS}, not {output!r}")
    by_name = {p.name: p for p in params}
    for p in params:
        for other, _, allowed in p.relevant_when:
            if other not in by_name or other == p.name:
                raise ValueError(f"method {name!r}: {p.name!r} depends on unknown parameter {other!r}")
            for v in allowed:
                by_name[other].coerce(v)


def register(name: str, *, label: str, family: str, citation: str, params: tuple[Param, ...] = (),
             needs_layer: bool = False, description: str = "", cost: str = "seconds", output: str = "map",
             passes: int | Callable[[dict, tuple[int, int], int], int] = 1):
    """Decorator adding ``fn`` to the registry under ``name`` (its docstring is the summary).

    ``passes``: an int, or ``passes(values, (H, W), channels)`` for counts that depend on the
    parameters, the input size or the layer's channels."""
    params = tuple(params)
    _check(name, params, cost, output)

    def wrap(fn):
        if name in REGISTRY:
            raise ValueError(f"method {name!r} registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else label
        passes_fn = passes if callable(passes) else (lambda values, hw, channels, _n=int(passes): _n)
        REGISTRY[name] = MethodSpec(name, label, family, citation, summary, params, fn, needs_layer,
                                    description or summary, cost, output, passes_fn)
        return fn

    return wrap


def estimate_seconds(spec: MethodSpec, values: dict[str, Any] | None, input_hw: tuple[int, int],
                     seconds_per_pass: float, *, channels: int | None = None) -> float:
    """Estimated run time: ``spec.passes(...)`` × a measured time per forward(+backward) pass."""
    return spec.passes(values, input_hw, channels=channels) * float(seconds_per_pass)


def format_seconds(seconds: float) -> str:
    """A rough duration for people: "< 1 s", "≈ 12 s", "≈ 3 min"."""
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"≈ {seconds:.0f} s"
    return f"≈ {seconds / 60:.0f} min"


def get_method(name: str) -> MethodSpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(REGISTRY)}")
    return REGISTRY[name]
