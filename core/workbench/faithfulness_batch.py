"""Deletion and insertion (Petsiuk et al. 2018, RISE §4.1) for many (image, map) pairs at once.

``core.metrics.faithfulness.deletion_and_insertion`` scores one image's perturbed copies in
batches of its own, so every image ends on a part-filled batch and pays its own calls. Here the
copies of every pair of a chunk of a dataset run go through the network together (a batch mixes
images), each scored by the softmax probability of its own class. The copies, the ranks (ties
broken in the seeded random order of ``descending_order``), the fills, the blurred insertion
start, the curve and the AUC are exactly those of the one-image function; only the batching
differs, so values agree to float rounding (a test checks it).

Copies that are exactly the same input go through the network once: deletion's first point
(nothing removed) and insertion's last (everything restored) are both the original image, and
with a constant fill (``zeros``, ``black``) the fully deleted image is the same for every request
of the same input shape, so one softmax row serves all of them, each read at its own class.
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
CONSTANT_FILLS = ("zeros", "black")  # the fully deleted image depends only on the input's shape


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

    def images(self, mode: str, ks: list[int], out: torch.Tensor) -> None:
        """The copies after ``ks`` steps into ``out`` (len(ks)×C×H×W), in one operation: on a busy
        2-core CPU each small threaded operation can wait a whole time slice for its second thread."""
        start, finish = self.ends[mode]
        k = torch.as_tensor(ks, device=self.ranks.device).view(-1, 1, 1, 1)
        torch.where(self.ranks < k * self.step, finish, start, out=out)

    def input_key(self, i: int, mode: str, k: int) -> tuple:
        """Equal keys for bit-identical copies: the original image, a constant fill's full deletion."""
        if (mode, k) in (("deletion", 0), ("insertion", self.n_steps)):
            return ("original", i)
        if mode == "deletion" and k == self.n_steps and self.req.fill in CONSTANT_FILLS:
            x = self.req.x
            return ("filled", self.req.fill, tuple(x.shape[1:]), x.dtype)
        return (i, mode, k)


class _Plan:
    """The distinct network inputs (``rows``: the request, mode and step that build each) and, per
    request and mode, where each curve point's score lies (``points``) among the (row, class) reads."""

    def __init__(self, prepared: list[_Prepared]):
        self.rows: list[tuple[int, str, int]] = []
        row_of: dict[tuple, int] = {}
        reads: dict[tuple[int, int], int] = {}
        self.points: list[dict[str, list[int]]] = []
        self.used: list[set[int]] = []
        for i, p in enumerate(prepared):
            per_mode, used = {}, set()
            for mode in p.req.modes:
                positions = []
                for k in range(p.n_steps + 1):
                    key = p.input_key(i, mode, k)
                    if key not in row_of:
                        row_of[key] = len(self.rows)
                        self.rows.append((i, mode, k))
                    row = row_of[key]
                    used.add(row)
                    positions.append(reads.setdefault((row, p.req.target), len(reads)))
                per_mode[mode] = positions
            self.points.append(per_mode)
            self.used.append(used)
        self.read_rows = np.array([r for r, _ in reads], np.int64)
        self.read_targets = np.array([t for _, t in reads], np.int64)
        self.order = np.argsort(self.read_rows, kind="stable")  # reads by row: a batch's reads are one slice
        self._sorted_rows = self.read_rows[self.order]
        users = np.bincount(np.concatenate([np.fromiter(u, np.int64) for u in self.used]), minlength=len(self.rows))
        self.shared = [int(np.sum(users[list(u)] > 1)) for u in self.used]

    def reads_of(self, start: int, stop: int) -> np.ndarray:
        lo, hi = np.searchsorted(self._sorted_rows, [start, stop])
        return self.order[lo:hi]


def _build(prepared: list[_Prepared], rows: list[tuple[int, str, int]]) -> torch.Tensor:
    """The batch of ``rows``, each run of rows of one request and mode built in one operation."""
    first = prepared[rows[0][0]].ends["deletion"][0]
    batch = torch.empty((len(rows), *first.shape[1:]), dtype=first.dtype, device=first.device)
    at = 0
    while at < len(rows):
        i, mode, _ = rows[at]
        end = at
        while end < len(rows) and rows[end][:2] == (i, mode):
            end += 1
        prepared[i].images(mode, [k for _, _, k in rows[at:end]], batch[at:end])
        at = end
    return batch


def curves_many(bundle, requests: list[CurveRequest], batch_size: int = 0,
                progress: Progress | None = None) -> list[dict[str, MetricResult]]:
    """{mode: MetricResult} per request, as ``deletion_and_insertion`` would give each one
    (insertion from the blurred image); ``progress`` is only checked for cancellation. Each
    result's ``forward_passes`` counts the distinct inputs its request needed (original once);
    ``forward_passes_shared`` of them were scored once for several requests of this call."""
    if not requests:
        return []
    for req in requests:
        if not req.modes or any(m not in MODES for m in req.modes):
            raise ValueError("modes must be deletion and/or insertion")
    prepared = [_Prepared(bundle, r) for r in requests]
    plan = _Plan(prepared)
    read_rows = torch.as_tensor(plan.read_rows, device=bundle.device)
    read_targets = torch.as_tensor(plan.read_targets, device=bundle.device)
    scores = np.empty(len(plan.read_rows), np.float64)

    def work(start: int, stop: int) -> None:
        if progress is not None:
            progress.check()
        reads = plan.reads_of(start, stop)
        picked = torch.as_tensor(reads, device=bundle.device)
        with torch.inference_mode():
            batch = _build(prepared, plan.rows[start:stop])

            def score(b):
                probs = torch.softmax(bundle.fast_logits(b).float(), 1)
                return probs[read_rows[picked] - start, read_targets[picked]]

            scores[reads] = channels_last_call(bundle, score, batch).cpu().numpy()

    n_rows = len(plan.rows)
    sample = tuple(requests[0].x.shape[1:])
    if batch_size or any(tuple(r.x.shape[1:]) != sample for r in requests):
        run_batches(n_rows, batch_size or 32, work)
    else:
        run_batches(n_rows, 0, work, tune=tune_key(bundle, sample, backward=False))
    out = []
    for p, points, used, shared in zip(prepared, plan.points, plan.used, plan.shared):
        fractions = np.minimum(np.arange(p.n_steps + 1) * p.step, p.n_pix) / p.n_pix
        results = {}
        for mode in p.req.modes:
            curve = scores[points[mode]]
            key = "fill" if mode == "deletion" else "start"
            results[mode] = MetricResult(mode, auc(fractions, curve), (fractions, curve),
                                         {"target": p.req.target, "step": p.step,
                                          key: p.req.fill if mode == "deletion" else "blurred image",
                                          "forward_passes": len(used), "forward_passes_shared": shared,
                                          "tie_seed": p.req.seed})
        out.append(results)
    return out
