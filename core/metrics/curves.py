"""A metric's curve as something to plot: series with named axes, plus an optional rule line
and tick names. Each metric with a curve registers how to read it (``register_metric(curve=…)``),
so a GUI or report names no metric: deletion/insertion (Petsiuk et al. 2018), AOPC (Samek et al.
2017), ROAD (Rong et al. 2022), stability against perturbation strength (Alvarez-Melis &
Jaakkola 2018) and the sanity cascade (Adebayo et al. 2018, Fig. 2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class CurveView:
    """What one metric's curve is: ``series`` of (name, x, y); curves whose ``axes`` are equal
    can share one plot. Axis labels are short; ``note`` says more (a tooltip). ``rule``: (y, what
    crossing it means); ``x_ticks``: (x, name) pairs."""

    title: str
    x_label: str
    y_label: str
    series: list[tuple[str, np.ndarray, np.ndarray]]
    y_range: tuple[float, float] | None = None
    rule: tuple[float, str] | None = None
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    note: str = ""

    @property
    def axes(self) -> tuple[str, str]:
        return self.x_label, self.y_label


CurveFn = Callable[[object, object], "CurveView | None"]  # (MetricSpec, MetricResult) -> view


def xy(x_label: str, y_label: str, y_range: tuple[float, float] | None = None, note: str = "") -> CurveFn:
    """The result's own ``curve`` (x, y) under these axis names."""

    def view(spec, result):
        if result.curve is None:
            return None
        x, y = (np.asarray(v, np.float64) for v in result.curve)
        return CurveView(spec.label, x_label, y_label, [(f"{spec.outputs[0].label} {result.value:.3f}", x, y)],
                         y_range, note=note or spec.sentence)

    return view


def stability(x_label: str) -> CurveFn:
    """Spearman similarity of the moved-back map against the perturbation's strength, from the
    result's ``rows`` (one per strength)."""

    def view(spec, result):
        rows = result.details.get("rows") or []
        if not rows:
            return None
        x = np.array([float(r["amount"]) for r in rows])
        y = np.array([float(r["spearman"]) for r in rows])
        return CurveView(spec.label, x_label, "similarity (Spearman)",
                         [(f"{spec.outputs[0].label} {result.value:.3f}", x, y)], (-1.0, 1.0),
                         note="Spearman correlation of the perturbed input's map, moved back, with the original map "
                              "(1: unchanged; higher is steadier). " + spec.sentence)

    return view


def sanity_cascade(similarity: dict[str, float], threshold: float, top_blocks: int, title: str,
                   name: str = "similarity to the original map") -> CurveView:
    """The cascading-randomisation curve: similarity after randomising each block from the top
    down (x = how many blocks are random; ticks name the last one), with the flag rule line."""
    blocks = list(similarity)
    x = np.arange(1, len(blocks) + 1, dtype=np.float64)
    y = np.array([float(similarity[b]) for b in blocks])
    return CurveView(title, "blocks randomised, from the output down", "similarity to the original",
                     [(name, x, y)], (0.0, 1.0),
                     (float(threshold), f"flagged when the first {top_blocks} average ≥ {threshold:g}"),
                     [(float(i), b) for i, b in zip(x, blocks)],
                     "Each step re-initialises one more block, from the output down (tick: the block randomised "
                     "last), and compares the new map with the original: ½(|Spearman| of |maps| + SSIM). A map that "
                     "depends on the model falls fast (lower is better). Adebayo et al. 2018, §3.1, Fig. 2.")


def sanity(spec, result) -> CurveView | None:
    """The sanity metric's cascade from its ``rows`` (the statistic the rule reads)."""
    rows = result.details.get("rows") or []
    if not rows:
        return None
    statistic = result.details.get("statistic", "combined")
    similarity = {r["randomised_down_to"]: float(r[statistic]) for r in rows}
    return sanity_cascade(similarity, result.details.get("threshold", 0.8), result.details.get("top_blocks", 3),
                          spec.label)
