"""Where metrics disagree (cf. MetaQuantus, Hedström et al. 2023): each method's rank under each
metric (1 = best, by the metric's own direction) and the Spearman correlation between the
rankings that every pair of metrics gives, so one number per method does not hide a conflict."""

from __future__ import annotations

import numpy as np

from .registry import output_spec
from .robustness import spearman


def method_ranks(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """{metric: {method: rank}} from {method: {metric: value}}; ties share their mean rank.
    Metrics without a known direction or with fewer than two finite values are left out."""
    methods = list(scores)
    metrics = list(dict.fromkeys(k for row in scores.values() for k in row))
    out = {}
    for metric in metrics:
        spec = output_spec(metric)
        values = np.array([scores[m].get(metric, np.nan) for m in methods], np.float64)
        finite = np.isfinite(values)
        if spec is None or finite.sum() < 2:
            continue
        key = -values if spec.direction == "higher" else values
        ordered = np.sort(key[finite])
        ranks = {}
        for method, k, ok in zip(methods, key, finite):
            if ok:  # mean position of equal values, 1-based
                ranks[method] = float(np.mean(np.flatnonzero(ordered == k)) + 1)
        out[metric] = ranks
    return out


def rank_agreement(ranks: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Spearman correlation between every two metrics' rankings of the methods both rank
    (1: same order, −1: reversed; NaN with fewer than three shared methods)."""
    metrics = list(ranks)
    out: dict[str, dict[str, float]] = {m: {} for m in metrics}
    for a in metrics:
        for b in metrics:
            shared = [m for m in ranks[a] if m in ranks[b]]
            value = spearman([ranks[a][m] for m in shared], [ranks[b][m] for m in shared]) \
                if len(shared) >= 3 else float("nan")
            out[a][b] = 1.0 if a == b else value
    return out
