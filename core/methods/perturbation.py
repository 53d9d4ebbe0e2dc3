"""Perturbation methods: occlusion and RISE. Batched under inference mode, progressive,
cancellable through ``ctx.progress``.

Both call ``ctx.partial(MethodOutput)`` (when set) with a usable intermediate map: occlusion
after its coarse pass, RISE after every batch (its running estimate).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..batching import channels_last_call, run_batches, tune_key
from ..capture import target_scores
from ..images import gaussian_blur
from .incremental import plan
from .registry import MethodContext, MethodOutput, Param, register

FILLS = ("mean", "grey", "black", "blur", "noise", "zeros")


def fill_image(bundle, x: torch.Tensor, fill: str, seed: int = 0, blur_sigma: float = 8.0) -> torch.Tensor:
    """What hidden pixels become, in model-input space: the image's mean colour, grey (pixel 0.5),
    black (pixel 0), a blurred copy, uniform pixel noise, or zeros in normalised space."""
    pre = bundle.preprocess
    if fill == "mean":
        return x.mean((2, 3), keepdim=True).expand_as(x).clone()
    if fill == "black":
        return pre.pixels_to_input(torch.zeros_like(x))
    if fill == "grey":
        return pre.pixels_to_input(torch.full_like(x, 0.5))
    if fill == "zeros":
        return torch.zeros_like(x)
    if fill == "blur":
        k = 2 * int(round(3 * blur_sigma)) + 1
        return pre.pixels_to_input(gaussian_blur(pre.input_to_pixels(x), [k, k], [blur_sigma, blur_sigma]))
    if fill == "noise":
        gen = torch.Generator().manual_seed(seed)
        return pre.pixels_to_input(torch.rand(x.shape, generator=gen).to(x.device, x.dtype))
    raise ValueError(f"fill must be one of {FILLS}")


def _positions(size: int, window: int, stride: int) -> list[int]:
    """Window starts along one axis: every ``stride`` px, the last one may overhang (as Captum)."""
    count = math.ceil(max(size - window, 0) / stride) + 1
    return [i * stride for i in range(count)]


def _scores(ctx: MethodContext, batch: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return channels_last_call(ctx.bundle, lambda b: target_scores(ctx.bundle, b, ctx.target)[0], batch).float()


def _occlusion_passes(values: dict, hw: tuple[int, int], channels: int) -> int:
    """One forward per window position, plus the unoccluded image."""
    window, stride = values["window"], values["stride"]
    return len(_positions(hw[0], window, stride)) * len(_positions(hw[1], window, stride)) + 1


@register("occlusion", label="Occlusion", family="perturbation",
          citation="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks, §4.2",
          description="How much the score for this class drops when each part of the image is hidden by a "
                      "sliding square patch.",
          cost="seconds", passes=_occlusion_passes,
          params=(Param("window", "int", 16, "side of the occluding square (px)", min=1, max=4096,
                        label="Patch size (px)"),
                  Param("stride", "int", 8, "step between windows (px)", min=1, max=4096,
                        label="Patch step (px)"),
                  Param("fill", "choice", "mean", "what hides the pixels", choices=FILLS, label="Hide with"),
                  Param("progressive", "bool", True, "first a coarse pass (stride = window), then refine",
                        label="Coarse preview first", advanced=True),
                  Param("batch_size", "int", 0, "occluded images per forward (0: chosen for the device)",
                        min=0, max=4096, label="Images per batch (0: automatic)", advanced=True),
                  Param("incremental", "choice", "auto",
                        "auto: recompute only the part of each layer the patch changes, from the unoccluded "
                        "image's cached activations, where the model allows; same map, less work (Nakandala, "
                        "Kumar & Papakonstantinou 2019, Incremental and approximate inference for faster "
                        "occlusion-based deep CNN explanations). off: run every occluded image in full",
                        choices=("auto", "off"), label="Reuse the unoccluded pass", advanced=True)))
def occlusion(ctx: MethodContext, window: int, stride: int, fill: str, progressive: bool,
              batch_size: int, incremental: str = "auto") -> MethodOutput:
    """Mean drop of the target score over all windows that cover each pixel."""
    x = ctx.x
    h, w = x.shape[-2:]
    background = fill_image(ctx.bundle, x, fill, ctx.seed)
    with torch.inference_mode():
        base = float(target_scores(ctx.bundle, x, ctx.target)[0][0])
    ys, xs = _positions(h, window, stride), _positions(w, window, stride)
    starts = [(y, xx) for y in ys for xx in xs]
    coarse_ok = progressive and window % stride == 0 and window > stride
    if coarse_ok:  # non-overlapping windows first: a complete, coarse map early
        step = window // stride
        first = [(y, xx) for y, xx in starts if (y // stride) % step == 0 and (xx // stride) % step == 0]
        taken = set(first)
        order = first + [s for s in starts if s not in taken]
    else:
        order, first = starts, []
    total = torch.zeros(h, w, device=x.device)
    count = torch.zeros(h, w, device=x.device)
    ctx.progress.set_total(len(order))

    def work(start, stop):
        chunk = order[start:stop]
        masks = torch.zeros(len(chunk), 1, h, w, device=x.device)
        for i, (y, xx) in enumerate(chunk):
            masks[i, :, y:y + window, xx:xx + window] = 1
        if engine is not None:
            drops = base - engine.scores(chunk, window, background)
        else:
            drops = base - _scores(ctx, x * (1 - masks) + background * masks)
        total.add_((drops.view(-1, 1, 1) * masks[:, 0]).sum(0))
        count.add_(masks[:, 0].sum(0))
        if coarse_ok and start < len(first) <= stop and ctx.partial is not None:
            ctx.partial(MethodOutput(map=(total / count.clamp(min=1)).clone(), info={"stage": "coarse"}))

    engine, path = plan(ctx.bundle, x, ctx.target, window, incremental)  # Krypton, or None: plain
    run_batches(len(order), batch_size, work, ctx.progress, tune=tune_key(ctx.bundle, x.shape[1:], backward=False))
    return MethodOutput(map=total / count.clamp(min=1), info={"windows": len(order), "score": base, **path})


class RiseMasks:
    """RISE masks (Petsiuk et al. 2018, §3.2 and the authors' code): binary grid×grid cells kept
    with probability p, bilinearly upsampled to (grid + 1)·cell and cropped at a random shift in
    [0, cell) per axis. All random draws happen up front, so the masks do not depend on how
    they are batched."""

    def __init__(self, n: int, grid: int, p: float, size: tuple[int, int], seed: int):
        gen = torch.Generator().manual_seed(seed)
        self.size = size
        self.cell = (math.ceil(size[0] / grid), math.ceil(size[1] / grid))
        self.grid = grid
        self.cells = (torch.rand(n, 1, grid, grid, generator=gen) < p).float()
        self.dy = torch.randint(0, self.cell[0], (n,), generator=gen).tolist()
        self.dx = torch.randint(0, self.cell[1], (n,), generator=gen).tolist()

    def __len__(self) -> int:
        return len(self.cells)

    def batch(self, start: int, stop: int, device) -> torch.Tensor:
        (h, w), (ch, cw) = self.size, self.cell
        up = F.interpolate(self.cells[start:stop].to(device), size=((self.grid + 1) * ch, (self.grid + 1) * cw),
                           mode="bilinear", align_corners=False)
        return torch.stack([up[i, :, dy:dy + h, dx:dx + w]
                            for i, (dy, dx) in enumerate(zip(self.dy[start:stop], self.dx[start:stop]))])


@register("rise", label="RISE", family="perturbation",
          citation="Petsiuk, Das & Saenko 2018, RISE: Randomized Input Sampling for Explanation, eq. 6",
          description="How much each region matters, estimated by showing the network thousands of randomly "
                      "masked copies of the image.",
          cost="minutes", passes=lambda v, hw, ch: v["masks"] + 1,
          params=(Param("masks", "int", 4000, "number of random masks N", min=1, max=100000,
                        label="Random masks"),
                  Param("grid", "int", 7, "cells per side of the mask grid (s): more cells, finer regions",
                        min=1, max=64, label="Mask cells per side"),
                  Param("p", "float", 0.5, "probability that a cell is kept", min=0.01, max=1.0,
                        label="Share of each mask kept", advanced=True),
                  Param("score", "choice", "softmax", "class score: softmax probability (the paper) or a "
                        "per-class sigmoid of the logits (TorchRay)", choices=("softmax", "sigmoid"),
                        label="Class score", advanced=True),
                  Param("batch_size", "int", 0, "masked images per forward (0: chosen for the device)",
                        min=0, max=4096, label="Images per batch (0: automatic)", advanced=True)))
def rise(ctx: MethodContext, masks: int, grid: int, p: float, score: str, batch_size: int) -> MethodOutput:
    """Σᵢ f(I ⊙ Mᵢ) Mᵢ / (N·p) with f the softmax probability; every class accumulated at once."""
    x = ctx.x
    h, w = x.shape[-2:]
    gen = RiseMasks(masks, grid, p, (h, w), ctx.seed)
    index = getattr(ctx.target, "index", None)
    with torch.inference_mode():
        classes = ctx.bundle(x).shape[1] if index is not None else 1
    sal = torch.zeros(classes, h * w, device=x.device)
    done = 0
    ctx.progress.set_total(masks)

    def scores_of(batch):
        if index is None:  # a unit: its activation is the score
            return target_scores(ctx.bundle, batch, ctx.target)[0][:, None]
        logits = ctx.bundle.fast_logits(batch).float()
        return torch.softmax(logits, 1) if score == "softmax" else torch.sigmoid(logits)

    def work(start, stop):
        nonlocal done
        m = gen.batch(start, stop, x.device)
        with torch.inference_mode():
            probs = channels_last_call(ctx.bundle, scores_of, x * m)
            sal.addmm_(probs.T, m.view(len(m), -1))
        done = stop
        if ctx.partial is not None:
            row = 0 if index is None else index
            ctx.partial(MethodOutput(map=(sal[row] / (done * p)).view(h, w).clone(),
                                     info={"masks_done": done}))

    run_batches(masks, batch_size, work, ctx.progress, tune=tune_key(ctx.bundle, x.shape[1:], backward=False))
    maps = (sal / (masks * p)).view(classes, h, w)
    return MethodOutput(map=maps[0 if index is None else index], info={"masks": masks},
                        extras={"class_maps": maps})
