"""ROAD: RemOve And Debias (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy
for Attribution Methods", ICML).

Removed pixels are not filled with a constant (whose shape leaks the mask to the model) but by
*noisy linear imputation* (§4.2): each removed pixel takes the weighted mean of its 8
neighbours — weight 1/6 for the 4 direct, 1/12 for the 4 diagonal ones — solved jointly for all
removed pixels, plus Gaussian noise. The sparse system is solved matrix-free by conjugate
gradients over the whole batch at once (every removal percentage and channel is one system).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..jobs import Progress
from ..batching import default_batch_size, run_batches
from .common import MetricResult, as_tensor_map
from .faithfulness import descending_order

PERCENTAGES = (10, 20, 30, 40, 50, 60, 70, 80, 90)  # the paper's removal levels (Figs. 3-5)
_KERNEL = torch.tensor([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]])


def _neighbour_sum(u: torch.Tensor) -> torch.Tensor:
    """Σ_j w_ij u_j over each pixel's in-image neighbours (N×C×H×W)."""
    k = _KERNEL.to(u.device, u.dtype).expand(u.shape[1], 1, 3, 3)
    return F.conv2d(u, k, padding=1, groups=u.shape[1])


def _push_pull(x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """A smooth first guess for the removed pixels: known values averaged down an image pyramid
    and interpolated back up (push-pull), so conjugate gradients start close to the answer."""
    if min(x.shape[-2:]) <= 2 or bool(known.all()):
        mean = (x * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp(min=1)
        return torch.where(known > 0, x, mean.expand_as(x))
    weight = F.avg_pool2d(known, 2, ceil_mode=True)
    coarse = F.avg_pool2d(x * known, 2, ceil_mode=True) / weight.clamp(min=1e-12)
    filled = _push_pull(coarse, (weight > 0).to(x.dtype))
    up = F.interpolate(filled, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where(known > 0, x, up)


def linear_imputation(x: torch.Tensor, removed: torch.Tensor, tol: float = 1e-3, max_iter: int = 1000) -> torch.Tensor:
    """``x`` (N×C×H×W) with the pixels where ``removed`` (N×1×H×W bool) is True replaced by the
    solution of v_i = Σ_j w_ij v_j / Σ_j w_ij (j over in-image neighbours; known j fixed at x_j).

    Conjugate gradients on A v = b with A = diag(Σ_j w_ij) − W restricted to the removed pixels
    (symmetric positive definite while some pixel is kept), started from a push-pull fill. The
    default relative residual 1e-3 leaves errors well below the added noise on typical maps."""
    r_mask = removed.to(x.dtype).expand_as(x)
    known = x * (1 - r_mask)
    degree = _neighbour_sum(torch.ones_like(x[:, :1])).expand_as(x)

    def apply(u):  # A u, with u zero outside the removed set
        return (degree * u - _neighbour_sum(u)) * r_mask

    b = _neighbour_sum(known) * r_mask
    v = _push_pull(x, 1 - r_mask[:, :1]) * r_mask
    res = b - apply(v)
    p = res.clone()
    rs = (res * res).sum((2, 3), keepdim=True)
    scale = (b * b).sum((2, 3), keepdim=True).clamp(min=1e-30)
    for _ in range(max_iter):
        if bool((rs <= tol * tol * scale).all()):
            break
        ap = apply(p)
        alpha = rs / (p * ap).sum((2, 3), keepdim=True).clamp(min=1e-30)
        v = v + alpha * p
        res = res - alpha * ap
        rs_new = (res * res).sum((2, 3), keepdim=True)
        p = res + (rs_new / rs.clamp(min=1e-30)) * p
        rs = rs_new
    return known + v * r_mask


def road(bundle, x: torch.Tensor, attr_map, order: str = "morf", percentages=PERCENTAGES, noise: float = 0.01,
         target: int | None = None, seed: int = 0, batch_size: int = 0,
         progress: Progress | None = None) -> MetricResult:
    """Class probability after removing the ``percentages`` of pixels the map ranks highest
    (``morf``) or lowest (``lerf``), imputed by noisy linear imputation (``noise``: σ in model-input
    units, the authors' 0.01). Value: the mean probability over the percentages (MoRF: lower is
    better; LeRF: higher). ``details["kept"]``: whether the class was still predicted at each
    level (the paper's per-image accuracy). Ties in relevance: random order from ``seed``."""
    if order not in ("morf", "lerf"):
        raise ValueError("order must be morf or lerf")
    x = x.to(bundle.device)
    m = as_tensor_map(attr_map, x)
    n_pix = m.numel()
    ranking = descending_order(m.flatten() if order == "morf" else -m.flatten(), seed)
    rank = torch.empty_like(ranking)
    rank[ranking] = torch.arange(n_pix, device=ranking.device)
    rank = rank.view(1, 1, *m.shape)
    counts = [int(n_pix * p / 100) for p in percentages]
    removed = torch.cat([rank < k for k in counts])
    gen = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        filled = linear_imputation(x.expand(len(counts), -1, -1, -1).float(), removed)
        filled = filled + noise * torch.randn(filled.shape, generator=gen).to(filled.device) * removed
        filled = torch.where(removed, filled, x.float()).to(x.dtype)
        logits = bundle(x)
    target = int(logits.argmax(1)) if target is None else int(target)
    if progress is not None:
        progress.set_total(len(counts))
    probs = np.empty(len(counts))
    kept = [0] * len(counts)

    def work(lo, hi):
        with torch.inference_mode():
            out = bundle.fast_logits(filled[lo:hi]).float()
        probs[lo:hi] = bundle.probabilities(out)[:, target].cpu().numpy()
        kept[lo:hi] = (out.argmax(1) == target).int().tolist()

    run_batches(len(counts), batch_size or default_batch_size(bundle.device, backward=False), work, progress)
    return MetricResult(f"road_{order}", float(np.mean(probs)), (np.asarray(percentages, float), probs),
                        {"target": target, "percentages": list(percentages), "kept": kept, "noise": noise,
                         "forward_passes": len(counts) + 1})
