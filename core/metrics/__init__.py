"""Evaluation metrics for attribution maps: faithfulness, localisation, robustness."""

from .common import MetricResult

__all__ = ["MetricResult"]
