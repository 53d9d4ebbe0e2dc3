"""Deletion and insertion (Petsiuk et al. 2018, RISE §4.1) for many (image, map) pairs at once.

``core.metrics.faithfulness.deletion_and_insertion`` scores one image's perturbed copies in
batches of its own, so every image ends on a part-filled batch and pays its own calls. Here the
copies of every pair of a chunk of a dataset run go through the network together (a batch mixes
images), each scored by the softmax probability of its own class. The copies, the ranks (ties
broken in the seeded random order of ``descending_order``), the fills, the blurred insertion
start, the curve and the AUC are exactly those of the one-image function; only the batching
differs, so values agree to float rounding (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..batching import channels_last_call, run_batches, tune_key
from ..jobs import Progress
from ..metrics.common import MetricResult, as_tensor_map
from ..metrics.faithfulness import _fill, auc, gaussian_blur_input, pixel_ranks

MODES = ("deletion", "insertion")


@dataclass
class CurveRequest:
    """The curves (``modes``) of one map of one image: its input ``x`` (1×C×H×W), ``map`` (H×W),
    the explained class ``target``, the deletion ``fill`` and the tie ``seed``."""

    x: torch.Tensor
    map: np.ndarray
    target: int
    modes: tuple[str, ...] = MODES
    fill: str = "zeros"
    seed: int | None = 0


class _Prepared:
    def __init__(self, bundle, req: CurveRequest):
        x = req.x.to(bundle.device)
        m = as_tensor_map(req.map, x)
        h, w = m.shape
        self.n_pix, self.step = h * w, h  # one image row's worth of pixels per step (the metric's default)
        self.n_steps = -(-self.n_pix // self.step)
        self.ranks = pixel_ranks(m, req.seed)[None, None]
        filled = _fill(bundle, x, req.fill)
        self.ends = {"deletion": (x, filled), "insertion": (gaussian_blur_input(x), x)}
        self.req = req

    def image(self, mode: str, k: int) -> torch.Tensor:
        start, finish = self.ends[mode]
        return torch.where(self.ranks < k * self.step, finish, start)


def curves_many(bundle, requests: list[CurveRequest], batch_size: int = 0,
                progress: Progress | None = None) -> list[dict[str, MetricResult]]:
    """{mode: MetricResult} per request, as ``deletion_and_insertion`` would give each one
    (insertion from the blurred image); ``progress`` is only checked for cancellation."""
    if not requests:
        return []
    for req in requests:
        if not req.modes or any(m not in MODES for m in req.modes):
            raise ValueError("modes must be deletion and/or insertion")
    prepared = [_Prepared(bundle, r) for r in requests]
    jobs = [(i, mode, k) for i, p in enumerate(prepared) for mode in p.req.modes for k in range(p.n_steps + 1)]
    targets = torch.tensor([prepared[i].req.target for i, _, _ in jobs], device=bundle.device)
    scores = np.empty(len(jobs), np.float64)

    def work(start: int, stop: int) -> None:
        if progress is not None:
            progress.check()
        with torch.inference_mode():
            batch = torch.cat([prepared[i].image(mode, k) for i, mode, k in jobs[start:stop]])

            def score(b):
                probs = torch.softmax(bundle.fast_logits(b).float(), 1)
                return probs.gather(1, targets[start:stop, None])[:, 0]

            scores[start:stop] = channels_last_call(bundle, score, batch).cpu().numpy()

    sample = tuple(requests[0].x.shape[1:])
    if batch_size or any(tuple(r.x.shape[1:]) != sample for r in requests):
        run_batches(len(jobs), batch_size or 32, work)
    else:
        run_batches(len(jobs), 0, work, tune=tune_key(bundle, sample, backward=False))
    out, at = [], 0
    for p in prepared:
        fractions = np.minimum(np.arange(p.n_steps + 1) * p.step, p.n_pix) / p.n_pix
        results = {}
        for mode in p.req.modes:
            curve = scores[at:at + p.n_steps + 1]
            at += p.n_steps + 1
            key = "fill" if mode == "deletion" else "start"
            results[mode] = MetricResult(mode, auc(fractions, curve), (fractions, curve.copy()),
                                         {"target": p.req.target, "step": p.step,
                                          key: p.req.fill if mode == "deletion" else "blurred image",
                                          "forward_passes": p.n_steps + 1, "tie_seed": p.req.seed})
        out.append(results)
    return out
