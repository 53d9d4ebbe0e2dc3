"""How simple is a map? Sparseness (Gini index; Chalasani et al. 2020, §5, after Hurley &
Rickard 2009) and complexity (entropy of the fractional contributions; Bhatt et al. 2020, §4.2).
Both read the absolute map, so sign conventions do not matter."""

from __future__ import annotations

import numpy as np

from .common import MetricResult


def _abs_flat(attr_map) -> np.ndarray:
    a = np.abs(np.nan_to_num(np.asarray(attr_map, np.float64))).ravel()
    if a.size == 0:
        raise ValueError("the map is empty")
    return a


def sparseness(attr_map) -> MetricResult:
    """Gini index of |map|: G = Σ_k (2k − n − 1) a_(k) / (n Σ_k a_(k)), a sorted ascending, k = 1..n.
    0 for a uniform map, → 1 when one pixel holds everything (higher: sparser)."""
    a = np.sort(_abs_flat(attr_map))
    n, total = a.size, a.sum()
    if total == 0:
        return MetricResult("sparseness", 0.0, None, {"note": "the map is zero everywhere"})
    k = np.arange(1, n + 1)
    return MetricResult("sparseness", float(((2 * k - n - 1) * a).sum() / (n * total)))


def complexity(attr_map) -> MetricResult:
    """Entropy −Σ p_i ln p_i of p = |map| / Σ|map| (natural log): ln n for a uniform map, 0 when
    one pixel holds everything (lower: simpler)."""
    a = _abs_flat(attr_map)
    total = a.sum()
    if total == 0:
        return MetricResult("complexity", float(np.log(a.size)), None, {"note": "the map is zero everywhere"})
    p = a / total
    nz = p[p > 0]
    return MetricResult("complexity", float(-(nz * np.log(nz)).sum()), None, {"max": float(np.log(a.size))})
