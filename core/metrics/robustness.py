"""Robustness of explanations and the model-randomisation sanity check.

* Stability under Gaussian noise, rotation and translation: the map of the perturbed input is
  mapped back through the inverse transform and compared with the original map where both are
  defined: Spearman rank correlation, top-k% intersection, SSIM (Wang et al. 2004); plus how
  often the prediction changes (cf. Ghorbani et al. 2019; Alvarez-Melis & Jaakkola 2018).
* Sanity check (Adebayo et al. 2018, §3.1): cascading randomisation of the parameters from the
  top block down; a method whose map barely changes while the top blocks are randomised is flagged.
"""

from __future__ import annotations

import copy
from typing import Callable

import cv2
import numpy as np
import torch
from torch import nn

from ..jobs import Progress, ensure_progress
from .common import MetricResult

MapFn = Callable[[object, torch.Tensor], np.ndarray]  # (bundle, input) -> H×W map


def _rank(a: np.ndarray) -> np.ndarray:
    order = np.argsort(a, kind="stable")
    ranks = np.empty(len(a), np.float64)
    ranks[order] = np.arange(len(a))
    # average ranks of ties
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / counts)[inv]


def spearman(a, b, mask=None) -> float:
    """Spearman rank correlation of two maps (over ``mask`` when given)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if mask is not None:
        a, b = a[mask], b[mask]
    ra, rb = _rank(a.ravel()), _rank(b.ravel())
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def topk_intersection(a, b, fraction: float = 0.1, mask=None) -> float:
    """|top-k(a) ∩ top-k(b)| / k for the top ``fraction`` of pixels."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if mask is not None:
        a, b = a[mask], b[mask]
    a, b = a.ravel(), b.ravel()
    k = max(1, int(round(fraction * len(a))))
    top_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def ssim(a, b, sigma: float = 1.5) -> float:
    """Mean structural similarity (Wang et al. 2004) of two maps after min-max normalisation."""
    def norm(m):
        m = np.asarray(m, np.float64)
        span = m.max() - m.min()
        return (m - m.min()) / span if span > 0 else np.zeros_like(m)

    x, y = norm(a), norm(b)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    blur = lambda m: cv2.GaussianBlur(m, (0, 0), sigma)  # noqa: E731
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def _affine(t: torch.Tensor, angle: float, shift: tuple[int, int]) -> torch.Tensor:
    import torchvision.transforms.functional as TF  # on first use: torchvision is slow to import

    return TF.affine(t, angle=angle, translate=list(shift), scale=1.0, shear=[0.0],
                     interpolation=TF.InterpolationMode.BILINEAR)


def _unaffine(t: torch.Tensor, angle: float, shift: tuple[int, int]) -> torch.Tensor:
    import torchvision.transforms.functional as TF

    back = TF.affine(t, angle=0.0, translate=[-shift[0], -shift[1]], scale=1.0, shear=[0.0],
                     interpolation=TF.InterpolationMode.BILINEAR)
    return TF.affine(back, angle=-angle, translate=[0, 0], scale=1.0, shear=[0.0],
                     interpolation=TF.InterpolationMode.BILINEAR)


def stability(bundle, x: torch.Tensor, map_fn: MapFn, noise: tuple[float, ...] = (0.02, 0.05, 0.1),
              angles: tuple[float, ...] = (5.0, 15.0), shifts: tuple[int, ...] = (4, 12), topk: float = 0.1,
              seed: int = 0, progress: Progress | None = None) -> MetricResult:
    """Compare the map of ``x`` with maps of perturbed copies, mapped back (see module doc).

    ``noise`` σ are in pixel units (the image spans [0, 1]); ``map_fn(bundle, x)`` returns the map.
    The value is the mean Spearman correlation over all perturbations.
    """
    pre = bundle.preprocess
    base = np.asarray(map_fn(bundle, x), np.float64)
    with torch.inference_mode():
        base_pred = int(bundle(x).argmax(1))
    gen = torch.Generator().manual_seed(seed)
    cases = [("noise", s, 0.0, (0, 0)) for s in noise] + [("rotation", a, a, (0, 0)) for a in angles] + \
        [("translation", d, 0.0, (d, d)) for d in shifts]
    rows = []
    progress = ensure_progress(progress, len(cases))
    for kind, amount, angle, shift in cases:
        progress.check()
        pixels = pre.input_to_pixels(x)
        if kind == "noise":
            pert = (pixels + amount * torch.randn(pixels.shape, generator=gen).to(x.device)).clamp(0, 1)
            valid = np.ones(base.shape, bool)
        else:
            pert = _affine(pixels, angle, shift)
            ones = torch.ones_like(pixels[:, :1])
            valid = (_unaffine(_affine(ones, angle, shift), angle, shift)[0, 0] > 0.999).cpu().numpy()
        xp = pre.pixels_to_input(pert)
        m = torch.as_tensor(np.asarray(map_fn(bundle, xp), np.float32))[None, None]
        back = m if kind == "noise" else _unaffine(m, angle, shift)
        back = back[0, 0].numpy().astype(np.float64)
        with torch.inference_mode():
            changed = int(bundle(xp).argmax(1)) != base_pred
        rows.append({"perturbation": kind, "amount": amount, "spearman": spearman(base, back, valid),
                     "topk_intersection": topk_intersection(base, back, topk, valid),
                     "ssim": ssim(np.where(valid, base, 0), np.where(valid, back, 0)),
                     "prediction_changed": changed})
        progress.step()
    value = float(np.mean([r["spearman"] for r in rows]))
    return MetricResult("stability", value, None,
                        {"rows": rows, "prediction_change_rate": float(np.mean([r["prediction_changed"] for r in rows]))})


def cascade_blocks(net: nn.Module) -> list[str]:
    """Parameter-carrying blocks from the output down: children of top-level containers, else
    top-level modules (ResNet: fc, layer4.1, layer4.0, ..., bn1, conv1)."""
    blocks = []
    for name, child in net.named_children():
        grandchildren = list(child.named_children())
        if grandchildren:
            blocks += [f"{name}.{g}" for g, m in grandchildren if any(True for _ in m.parameters())]
        elif any(True for _ in child.parameters()):
            blocks.append(name)
    return list(reversed(blocks))


def _randomise(module: nn.Module, gen: torch.Generator) -> None:
    """Fresh random values: He-normal weights, norm scales ≈ 1, small biases."""
    with torch.no_grad():
        for sub in module.modules():
            for name, p in sub.named_parameters(recurse=False):
                noise = torch.randn(p.shape, generator=gen).to(p.device, p.dtype)
                if p.ndim > 1:
                    p.copy_(noise * (2.0 / max(1, p[0].numel())) ** 0.5)
                elif name == "weight":
                    p.copy_(1.0 + 0.1 * noise)
                else:
                    p.copy_(0.1 * noise)


SANITY_STATISTICS = ("combined", "spearman_abs", "ssim")
_STAT_TEXT = {"combined": "(|Spearman| of abs maps + SSIM) / 2", "spearman_abs": "|Spearman| of abs maps",
              "ssim": "SSIM"}


def sanity_check(bundle, x: torch.Tensor, map_fn: MapFn, blocks: list[str] | None = None, seed: int = 0,
                 threshold: float = 0.8, top_blocks: int = 3, statistic: str = "combined",
                 progress: Progress | None = None) -> MetricResult:
    """Cascading model-parameter randomisation (Adebayo et al. 2018, §3.1, Fig. 2).

    Blocks are re-initialised one by one from the output down and each map is compared with the
    original: ``spearman`` / ``spearman_abs`` (rank correlation of the maps / of their absolute
    values) and ``ssim``, one row per step.

    Rule: flagged when the mean similarity over the first ``top_blocks`` steps of the cascade
    is ≥ ``threshold``. ``statistic`` ``"combined"`` is ½(|Spearman| of abs maps + SSIM), two of
    the paper's measures; ``"spearman_abs"`` or ``"ssim"`` read one. Why the top of the cascade:
    a method that passes keeps changing as the top layers are randomised, while guided backprop
    stays visually similar (Adebayo Fig. 2); by the fully random end nearly every method has
    drifted, so the end point separates nothing. The combination is used because each measure
    alone overrates some maps (SSIM: input-shaped maps like input × gradient; rank correlation:
    noise-averaged maps). On the demo model, top-3 combined: guided backprop 0.87–0.94;
    deconvnet ≤ 0.76, SmoothGrad ≤ 0.71, Grad-CAM ≤ 0.53 (12 demo images, seeds 0–2).
    """
    if statistic not in SANITY_STATISTICS:
        raise ValueError(f"statistic must be one of {SANITY_STATISTICS}")
    if top_blocks < 1:
        raise ValueError("top_blocks must be at least 1")
    base = np.asarray(map_fn(bundle, x), np.float64)
    blocks = blocks or cascade_blocks(bundle.net)
    randomised = copy.deepcopy(bundle)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    progress = ensure_progress(progress, len(blocks))
    for name in blocks:
        progress.check()
        _randomise(randomised.net.get_submodule(name), gen)
        m = np.asarray(map_fn(randomised, x), np.float64)
        row = {"randomised_down_to": name, "spearman": spearman(base, m),
               "spearman_abs": spearman(np.abs(base), np.abs(m)), "ssim": ssim(base, m)}
        row["combined"] = 0.5 * (row["spearman_abs"] + row["ssim"])
        rows.append(row)
        progress.step()
    read = rows[:top_blocks]
    value = float(np.mean([r[statistic] for r in read])) if read else 1.0
    return MetricResult("sanity_check", value, None,
                        {"rows": rows, "flagged": bool(value >= threshold), "threshold": threshold,
                         "rule": f"mean {_STAT_TEXT[statistic]} over the top {len(read)} randomised "
                                 f"blocks >= {threshold:g}",
                         "statistic": statistic, "top_blocks": top_blocks,
                         "blocks_read": [r["randomised_down_to"] for r in read],
                         "final_spearman_abs": rows[-1]["spearman_abs"] if rows else 1.0})


def max_sensitivity(bundle, x: torch.Tensor, map_fn: MapFn, radius: float = 0.02, samples: int = 10,
                    relative: bool = False, seed: int = 0, progress: Progress | None = None) -> MetricResult:
    """Max-sensitivity (Yeh et al. 2019, eq. 3): max over inputs y with ‖y − x‖∞ ≤ ``radius``
    (pixel units, the image spans [0, 1]) of ‖Φ(y) − Φ(x)‖_F, estimated from ``samples`` uniform
    draws (a bounded count: each costs one map). ``relative`` divides by ‖Φ(x)‖_F (Quantus's
    choice; comparable across methods of different scale). Lower is better."""
    pre = bundle.preprocess
    base = np.asarray(map_fn(bundle, x), np.float64)
    scale = float(np.linalg.norm(base)) if relative else 1.0
    gen = torch.Generator().manual_seed(seed)
    pixels = pre.input_to_pixels(x)
    progress = ensure_progress(progress, samples)
    values = []
    for _ in range(samples):
        progress.check()
        noise = (torch.rand(pixels.shape, generator=gen) * 2 - 1).to(x.device, x.dtype) * radius
        xp = pre.pixels_to_input((pixels + noise).clamp(0, 1))
        diff = np.asarray(map_fn(bundle, xp), np.float64) - base
        values.append(float(np.linalg.norm(diff)) / scale if scale > 0 else float("inf"))
        progress.step()
    return MetricResult("max_sensitivity", max(values), None,
                        {"samples": values, "radius": radius, "relative": relative})
