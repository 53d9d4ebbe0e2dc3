"""Activation maximisation: synthesise the input a class or a unit responds to most.

Gradient ascent on the input (Simonyan et al. 2014, §2) with the regularisers of Yosinski
et al. 2015 (§3: L2 decay, Gaussian blur every few steps, clipping of pixels with small norm
or small contribution), jitter and total variation (Mahendran & Vedaldi 2015), and optionally
the decorrelated Fourier parameterisation of Olah et al. 2017 ("Feature Visualization":
1/f-scaled spectrum, decorrelated colours, sigmoid to the valid range).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..capture import target_scores
from ..images import gaussian_blur
from .registry import MethodContext, MethodOutput, Param, register

STARTS = ("zeros", "noise", "image")
# Square root of ImageNet's colour correlation (Olah et al. 2017, lucid's colour decorrelation).
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOR_SQRT = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


class FourierImage(torch.nn.Module):
    """Pixels in [0, 1] from a 1/f-scaled spectrum with decorrelated colours."""

    def __init__(self, h: int, w: int, channels: int, gen: torch.Generator, sd: float = 0.01):
        super().__init__()
        fy = torch.fft.fftfreq(h)[:, None]
        fx = torch.fft.rfftfreq(w)[None, :]
        freq = torch.sqrt(fx * fx + fy * fy)
        self.register_buffer("scale", 1.0 / torch.clamp(freq, min=1.0 / max(h, w)))
        self.spectrum = torch.nn.Parameter(sd * torch.randn(channels, h, w // 2 + 1, 2, generator=gen))
        self.size = (h, w)

    def forward(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.spectrum) * self.scale
        img = torch.fft.irfft2(spec, s=self.size, norm="ortho")[None] / 4.0
        if img.shape[1] == 3:
            img = torch.einsum("ij,njhw->nihw", _COLOR_SQRT.to(img.device), img)
        return torch.sigmoid(img)


def _tv(p: torch.Tensor) -> torch.Tensor:
    return (p[..., 1:, :] - p[..., :-1, :]).abs().mean() + (p[..., :, 1:] - p[..., :, :-1]).abs().mean()


_PIXELS = {"fourier": False}  # the pixel-space regularisers (Yosinski et al.) do not apply to Fourier images


@register("activation_maximization", label="Activation maximisation", family="synthesis",
          citation="Simonyan et al. 2014 §2; Yosinski et al. 2015 §3; Olah et al. 2017 (Fourier parameterisation)",
          description="An image made up from scratch to show what the network looks for in this class (or "
                      "unit).",
          cost="seconds", output="image", passes=lambda v, hw, ch: v["steps"] + 1,
          params=(Param("steps", "int", 200, "gradient-ascent steps", min=1, max=10000, label="Optimisation steps"),
                  Param("lr", "float", 0.05, "step size in pixel units", min=1e-5, max=10.0, label="Step size",
                        advanced=True),
                  Param("optimizer", "choice", "gradient", "'gradient': ascent along the gradient scaled to "
                        "mean |step| = lr (Simonyan/Yosinski); 'adam': Adam (Olah et al.)",
                        choices=("gradient", "adam"), label="Optimiser", advanced=True),
                  Param("start", "choice", "noise", "starting image", choices=STARTS, label="Start from",
                        relevant_when=_PIXELS),
                  Param("l2", "float", 1e-3, "L2 decay of the pixel deviation from grey per step", min=0, max=1,
                        label="Pull towards grey (L2)", advanced=True, relevant_when=_PIXELS),
                  Param("jitter", "int", 4, "random shift per step (px)", min=0, max=64, label="Random shift (px)",
                        advanced=True),
                  Param("blur_every", "int", 4, "Gaussian blur every k steps (0: never)", min=0, max=1000,
                        label="Blur every N steps", advanced=True, relevant_when=_PIXELS),
                  Param("blur_sigma", "float", 0.5, "σ of that blur (px)", min=0.0, max=10.0,
                        label="Blur strength (px)", advanced=True,
                        relevant_when=(("fourier", "in", False), ("blur_every", "not in", 0))),
                  Param("clip_norm", "float", 0.0, "zero the pixels below this percentile of norm", min=0, max=100,
                        label="Drop faint pixels (percentile)", advanced=True, relevant_when=_PIXELS),
                  Param("clip_contribution", "float", 0.0, "zero the pixels below this percentile of "
                        "|gradient × deviation|", min=0, max=100, label="Drop unhelpful pixels (percentile)",
                        advanced=True, relevant_when=_PIXELS),
                  Param("tv", "float", 0.0, "total-variation penalty weight", min=0.0, max=100.0,
                        label="Smoothness penalty (TV)", advanced=True),
                  Param("fourier", "bool", False, "decorrelated Fourier parameterisation (Olah et al. 2017)",
                        label="Natural colours (Fourier)"),
                  Param("preview_every", "int", 10, "steps between live previews", min=1, max=10000,
                        label="Preview every N steps", advanced=True)))
def activation_maximization(ctx: MethodContext, steps: int, lr: float, optimizer: str, start: str, l2: float,
                            jitter: int,
                            blur_every: int, blur_sigma: float, clip_norm: float, clip_contribution: float,
                            tv: float, fourier: bool, preview_every: int) -> MethodOutput:
    """Synthesise the image that maximises the target; map = where the pattern has energy."""
    bundle, pre = ctx.bundle, ctx.bundle.preprocess
    gen = torch.Generator().manual_seed(ctx.seed)
    shape = tuple(ctx.x.shape)
    device = ctx.x.device
    if fourier:
        param = FourierImage(shape[2], shape[3], shape[1], gen).to(device)
        pixels_of = param.forward
        params = list(param.parameters())
    else:
        if start == "image":
            init = pre.input_to_pixels(ctx.x.detach())
        elif start == "zeros":
            init = torch.full(shape, 0.5, device=device)
        else:
            init = (0.5 + 0.1 * torch.randn(shape, generator=gen)).to(device)
        pix = init.clamp(0, 1).clone().requires_grad_(True)
        pixels_of = lambda: pix  # noqa: E731
        params = [pix]
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else None
    history = []
    ctx.progress.set_total(steps)
    with torch.enable_grad():
        for step in range(steps):
            pixels = pixels_of()
            shifted = pixels
            if jitter:
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=gen))
                shifted = torch.roll(pixels, (dy, dx), (2, 3))
            score = target_scores(bundle, pre.pixels_to_input(shifted), ctx.target)[0][0]
            loss = -score + (tv * _tv(pixels) if tv else 0.0)
            for p in params:
                p.grad = None
            loss.backward()
            history.append(float(score.detach()))
            if opt is not None:
                opt.step()
            else:
                with torch.no_grad():
                    for p in params:
                        p.sub_(lr * p.grad / (p.grad.abs().mean() + 1e-12))
            if not fourier:
                with torch.no_grad():
                    _regularise(pix, step, l2, blur_every, blur_sigma, clip_norm, clip_contribution)
            ctx.progress.step()
            if ctx.partial is not None and (step + 1) % preview_every == 0:
                ctx.partial(MethodOutput(map=_energy(pixels_of().detach()), info={"step": step + 1},
                                         extras={"image": _to_uint8(pixels_of().detach())}))
    with torch.no_grad():
        final = pixels_of().detach()
        end = float(target_scores(bundle, pre.pixels_to_input(final), ctx.target)[0][0])
    return MethodOutput(map=_energy(final), info={"start_score": history[0], "final_score": end, "steps": steps},
                        extras={"image": _to_uint8(final), "history": history})


def _regularise(pix, step, l2, blur_every, blur_sigma, clip_norm, clip_contribution) -> None:
    """Yosinski et al. 2015 §3, in place on pixel values (grey = 0.5 is the neutral image)."""
    dev = pix - 0.5
    if l2:
        dev.mul_(1 - l2)
    if blur_every and blur_sigma > 0 and (step + 1) % blur_every == 0:
        k = 2 * int(math.ceil(3 * blur_sigma)) + 1
        dev.copy_(gaussian_blur(dev, [k, k], [blur_sigma, blur_sigma]))
    if clip_norm:
        norm = dev.norm(dim=1, keepdim=True)
        dev.mul_(norm >= torch.quantile(norm.flatten(), clip_norm / 100))
    if clip_contribution and pix.grad is not None:
        contrib = (dev * pix.grad).sum(1, keepdim=True).abs()
        dev.mul_(contrib >= torch.quantile(contrib.flatten(), clip_contribution / 100))
    pix.copy_((0.5 + dev).clamp(0, 1))


def _energy(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels[0] - 0.5).norm(dim=0)


def _to_uint8(pixels: torch.Tensor) -> np.ndarray:
    arr = pixels[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return (arr * 255 + 0.5).astype(np.uint8)
