"""What every metric returns, and the batched scoring of many perturbed inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ..batching import channels_last_call, default_batch_size, run_batches, tune_key
from ..jobs import Progress


@dataclass
class MetricResult:
    """A metric's ``value``, with its ``curve`` (x, y arrays) where one exists, and details."""

    name: str
    value: float
    curve: tuple[np.ndarray, np.ndarray] | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"metric": self.name, "value": self.value, **self.details}
        if self.curve is not None:
            out["curve_x"] = [float(v) for v in self.curve[0]]
            out["curve_y"] = [float(v) for v in self.curve[1]]
        return out


def class_probabilities(bundle, make_batch: Callable[[int, int], torch.Tensor], n: int, index: int,
                        batch_size: int = 0, progress: Progress | None = None, kind: str = "probability",
                        sample_shape: tuple | None = None) -> np.ndarray:
    """Score of class ``index`` for ``n`` inputs built batch by batch by ``make_batch(start, stop)``.

    ``kind``: class ``probability`` (softmax; sigmoid for a multi-label head) or raw ``logit``.
    Runs under inference mode, in batches that halve on out-of-memory; ``sample_shape`` (one
    input's shape) lets the batch size be the one measured for this model
    (``core.batch_tuning``) when ``batch_size`` is 0.
    """
    scores = np.empty(n, np.float64)

    def score(batch):
        logits = bundle.fast_logits(batch).float()
        return bundle.probabilities(logits)[:, index] if kind == "probability" else logits[:, index]

    def work(start, stop):
        with torch.inference_mode():
            scores[start:stop] = channels_last_call(bundle, score, make_batch(start, stop)).cpu().numpy()

    if batch_size or sample_shape is None:
        run_batches(n, batch_size or default_batch_size(bundle.device, backward=False), work, progress)
    else:
        run_batches(n, 0, work, progress, tune=tune_key(bundle, sample_shape, backward=False))
    return scores


def as_tensor_map(attr_map, like: torch.Tensor) -> torch.Tensor:
    """An H×W map (numpy or tensor) as float32 on ``like``'s device, checked against its size."""
    m = torch.as_tensor(np.asarray(attr_map, dtype=np.float32) if not isinstance(attr_map, torch.Tensor)
                        else attr_map, dtype=torch.float32, device=like.device)
    if tuple(m.shape) != tuple(like.shape[-2:]):
        raise ValueError(f"the map is {tuple(m.shape)} but the input is {tuple(like.shape[-2:])}")
    return torch.nan_to_num(m)
