"""The metric registry: every metric registered once, with what a person needs to read it.

Each entry has a name, a plain-language sentence, the numbers it reports and which way each is
better, its cost in forward passes per image (so a GUI can estimate time), what it needs
(a ground-truth box or mask, a label, a way to recompute the map) and its parameters. The CLI's
``metrics`` and ``evaluate``, the GUI and dataset runs build from here; adding a metric is one
function and one ``register_metric`` call.

A metric is ``fn(inp: MetricInput, **params) -> MetricResult``; its first output is
``result.value``, further outputs are read from ``result.details`` by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..jobs import Progress
from ..params import Param, ParamSchema
from .common import MetricResult

NEEDS = ("box", "mask_or_box", "label", "map_fn")
DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class MetricOutput:
    """One number a metric reports and which way is better."""

    name: str
    label: str
    direction: str  # "higher" or "lower" is better

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}")

    @property
    def arrow(self) -> str:
        return "↑" if self.direction == "higher" else "↓"

    def describe(self) -> str:
        return f"{self.label} ({self.direction} is better)"


@dataclass
class MetricInput:
    """What a metric reads: the model, one input, its map, the explained class, ground truth
    (in input coordinates), and ``map_fn(bundle, x)`` to recompute the map (robustness)."""

    bundle: Any
    x: torch.Tensor
    map: np.ndarray
    target: int | None = None
    box: tuple[int, int, int, int] | None = None
    mask: np.ndarray | None = None
    label: int | None = None
    predicted: int | None = None
    map_fn: Callable[[Any, torch.Tensor], np.ndarray] | None = None
    seed: int = 0
    progress: Progress = field(default_factory=Progress)
    original_mask: np.ndarray | None = None  # ground truth in the original image's pixels
    geometry: tuple[float, float, int, int] | None = None  # Preprocess.geometry of the original image


@dataclass(frozen=True)
class MetricSpec(ParamSchema):
    """A registered metric (see the module docstring)."""

    kind_word = "metric"

    name: str
    label: str
    family: str
    sentence: str
    citation: str
    outputs: tuple[MetricOutput, ...]
    cost: Callable[[tuple[int, int], dict], int]  # (input H×W, params) → forward passes per image
    needs: frozenset[str]
    params: tuple[Param, ...]
    fn: Callable[..., MetricResult]
    recomputes: int | Callable[[Any, dict], int] = 0  # maps recomputed per image (each costs the method's passes)
    curve: Callable[[Any, MetricResult], Any] | None = None  # (spec, result) -> curves.CurveView, to plot

    def curve_view(self, result: MetricResult):
        """The result's curve with named axes (``curves.CurveView``), or None when it has none."""
        return self.curve(self, result) if self.curve is not None else None

    def map_recomputes(self, bundle, params: dict | None = None) -> int:
        """How often the method's map is recomputed per image for ``bundle`` and ``params``."""
        if callable(self.recomputes):
            return int(self.recomputes(bundle, self.resolve(params)))
        return int(self.recomputes)

    def missing(self, inp: MetricInput) -> str | None:
        """Why ``inp`` cannot be scored (a sentence), or None."""
        if "box" in self.needs and inp.box is None:
            return f"{self.label} needs a ground-truth box"
        if "mask_or_box" in self.needs and inp.mask is None and inp.box is None:
            return f"{self.label} needs a ground-truth mask or box"
        if "label" in self.needs and inp.label is None:
            return f"{self.label} needs the image's true class"
        if "map_fn" in self.needs and inp.map_fn is None:
            return f"{self.label} needs to recompute the map (a method)"
        return None

    def run(self, inp: MetricInput, params: dict[str, Any] | None = None) -> MetricResult:
        """Score ``inp`` (``ValueError`` when it lacks what the metric needs)."""
        reason = self.missing(inp)
        if reason:
            raise ValueError(reason)
        return self.fn(inp, **self.resolve(params))

    def values(self, result: MetricResult) -> dict[str, float]:
        """{output name: value} of a result of this metric."""
        out = {self.outputs[0].name: float(result.value)}
        for extra in self.outputs[1:]:
            out[extra.name] = float(result.details[extra.name])
        return out


METRICS: dict[str, MetricSpec] = {}


def register_metric(name: str, *, label: str, family: str, sentence: str, citation: str,
                    outputs: tuple[MetricOutput, ...], cost, needs: tuple[str, ...] = (),
                    params: tuple[Param, ...] = (), recomputes=0, curve=None):
    """Decorator adding ``fn`` to the metric registry under ``name``. ``cost``: an int, or
    ``cost(size, params)`` for passes that depend on the input size or parameters;
    ``recomputes``: an int, or ``recomputes(bundle, params)``, maps the metric recomputes per image;
    ``curve``: ``curve(spec, result) -> CurveView`` for metrics with a curve (see ``curves``)."""
    unknown = set(needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"unknown needs {unknown}; choose from {NEEDS}")

    def wrap(fn):
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        cost_fn = cost if callable(cost) else (lambda size, params, _n=int(cost): _n)
        METRICS[name] = MetricSpec(name, label, family, sentence, citation, tuple(outputs), cost_fn,
                                   frozenset(needs), tuple(params), fn, recomputes, curve)
        return fn

    return wrap


def get_metric(name: str) -> MetricSpec:
    _load()
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; available: {', '.join(METRICS)}")
    return METRICS[name]


def all_metrics() -> dict[str, MetricSpec]:
    _load()
    return METRICS


def output_spec(name: str) -> MetricOutput | None:
    """The output called ``name`` of any metric (e.g. ``increase_in_confidence``), or None."""
    for spec in all_metrics().values():
        for out in spec.outputs:
            if out.name == name:
                return out
    return None


def _load() -> None:
    from . import definitions  # noqa: F401  (registers the built-in metrics)
