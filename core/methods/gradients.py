"""Gradient attribution methods: saliency, deconvnet, guided backprop, input × gradient,
SmoothGrad (wrapping any of them) and integrated gradients.

Each returns a per-channel attribution (C×H×W, Captum's convention) and an H×W map made
by a channel reduction chosen per method (a parameter).
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import torch

from ..batching import channels_last_call, run_batches, tune_key
from ..capture import target_scores
from ..images import gaussian_blur
from .folded import gradient_forward
from .registry import MethodContext, MethodOutput, Param, register
from .relu_override import SCOPES, other_activations, relu_rule

REDUCTIONS = ("max_abs", "max_abs_signed", "sum", "sum_abs", "l2", "mean")


def reduce_channels(attr: torch.Tensor, how: str) -> torch.Tensor:
    """Collapse the channel axis (dim -3) of an attribution to a map."""
    if how == "max_abs":
        return attr.abs().amax(-3)
    if how == "max_abs_signed":  # the signed value of the channel with the largest magnitude
        idx = attr.abs().argmax(-3, keepdim=True)
        return attr.gather(-3, idx).squeeze(-3)
    if how == "sum":
        return attr.sum(-3)
    if how == "sum_abs":
        return attr.abs().sum(-3)
    if how == "l2":
        return attr.norm(dim=-3)
    if how == "mean":
        return attr.mean(-3)
    raise ValueError(f"channel reduction must be one of {REDUCTIONS}")


def _reduce_param(default: str) -> Param:
    return Param("reduce", "choice", default, "how the colour channels collapse into one map", choices=REDUCTIONS,
                 label="Combine colour channels by", advanced=True)


def _batch_param() -> Param:
    return Param("batch_size", "int", 0, "inputs per forward/backward pass (0: chosen for the device)",
                 min=0, max=4096, label="Images per batch (0: automatic)", advanced=True)


def _scope_param(relevant_when=()) -> Param:
    return Param("relu_scope", "choice", "all",
                 "'all': every ReLU, functional calls included (the paper's rule); 'modules': "
                 "nn.ReLU modules only (as Captum)", choices=SCOPES, label="Which ReLUs are modified",
                 advanced=True, relevant_when=relevant_when)


def gradient_tune_key(bundle, sample_shape, twin: bool):
    """The batch-size tuning key of gradient passes; the lean twin is timed apart from the net."""
    key = tune_key(bundle, sample_shape, backward=True)
    return dataclasses.replace(key, model=key.model + "+lean") if twin else key


def gradient_batches(bundle, n: int, batch_of, consume, target, *, sample_shape, rule: str | None = None,
                     scope: str = "all", batch_size: int = 0, progress=None) -> None:
    """∂score/∂input for ``n`` inputs made batch by batch: ``batch_of(start, stop)`` returns the
    inputs ``start:stop``, and ``consume(start, stop, grads, scores)`` receives their gradients
    and target scores, so no N×C×H×W gradient tensor need exist.

    ``rule``: ``None`` (true gradient), ``"guided"`` or ``"deconvnet"`` (see relu_override).
    Inputs are independent in eval mode, so the gradient of the summed scores is each
    input's own gradient. True gradients of a class score run on the lean, BatchNorm-folded twin
    (``core.methods.folded``): the same gradient up to float rounding, with less work and memory.
    """
    forward = gradient_forward(bundle, target, rule)
    override = relu_rule(bundle.net, rule, scope) if rule else contextlib.nullcontext()

    def grad_of(chunk):
        chunk = chunk.detach().requires_grad_(True)
        with torch.enable_grad():
            if forward is None:
                s, _ = target_scores(bundle, chunk, target)
            else:
                s = target.score(forward(chunk), {})
            (g,) = torch.autograd.grad(s.sum(), chunk)
        return g, s.detach()

    def work(start, stop):
        g, s = channels_last_call(bundle, grad_of, batch_of(start, stop))
        consume(start, stop, g, s)

    with override:
        run_batches(n, batch_size, work, progress, tune=gradient_tune_key(bundle, sample_shape, twin=forward is not None))


def batch_gradients(bundle, xs: torch.Tensor, target, *, rule: str | None = None, scope: str = "all",
                    batch_size: int = 0, progress=None, scores: torch.Tensor | None = None) -> torch.Tensor:
    """∂score/∂input for every input in ``xs`` (N×C×H×W), in batches (see ``gradient_batches``).
    ``scores`` (length N), if given, receives the target scores."""
    grads = torch.empty_like(xs)

    def keep(start, stop, g, s):
        grads[start:stop] = g
        if scores is not None:
            scores[start:stop] = s

    gradient_batches(bundle, len(xs), lambda a, b: xs[a:b], keep, target, rule=rule, scope=scope,
                     batch_size=batch_size, progress=progress, sample_shape=xs.shape[1:])
    return grads


def gradient_sum(bundle, n: int, batch_of, target, *, sample_shape, weights: torch.Tensor | None = None,
                 transform=None, rule: str | None = None, scope: str = "all", batch_size: int = 0, progress=None,
                 scores: torch.Tensor | None = None) -> torch.Tensor:
    """Σᵢ wᵢ·f(gᵢ, xᵢ) over ``n`` inputs made by ``batch_of(start, stop)``, accumulated batch by
    batch: memory holds one batch of gradients, never all ``n``. ``f`` is ``transform`` (default:
    the gradient itself), ``w`` is ``weights`` (default: all 1). Same gradients as
    ``batch_gradients``."""
    total = None

    def add(start, stop, g, s):
        nonlocal total
        if transform is not None:
            g = transform(g, batch_of(start, stop))
        part = g.sum(0) if weights is None else torch.tensordot(weights[start:stop].to(g.dtype), g, dims=1)
        total = part if total is None else total.add_(part)
        if scores is not None:
            scores[start:stop] = s

    gradient_batches(bundle, n, batch_of, add, target, rule=rule, scope=scope, batch_size=batch_size,
                     progress=progress, sample_shape=sample_shape)
    return total.contiguous()


def _gradient_output(attr: torch.Tensor, reduce: str, info: dict | None = None) -> MethodOutput:
    return MethodOutput(map=reduce_channels(attr, reduce), attribution=attr, info=info or {})


@register("saliency", label="Saliency (vanilla gradient)", family="gradient",
          citation="Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks, §3.1",
          description="Which pixels would change the network's score for this class most if they changed "
                      "slightly.",
          cost="instant",
          params=(Param("abs", "bool", True, "absolute value of the gradient (the paper's map)",
                        label="Ignore the sign", advanced=True),
                  _reduce_param("max_abs")))
def saliency(ctx: MethodContext, abs: bool, reduce: str) -> MethodOutput:
    """Gradient of the target score w.r.t. the input; map = max over channels of |∂S/∂x|."""
    grad = ctx.cache.get(ctx.bundle, ctx.x, ctx.target, input_grad=True).input_grad[0]
    ctx.progress.step()
    return _gradient_output(grad.abs() if abs else grad, reduce)


@register("input_x_gradient", label="Input × gradient", family="gradient",
          citation="Shrikumar et al. 2016, Not Just a Black Box (gradient × input)",
          description="Which pixels push the score for this class up or down, weighing each pixel's "
                      "sensitivity by its own value.",
          cost="instant",
          params=(_reduce_param("sum"),))
def input_x_gradient(ctx: MethodContext, reduce: str) -> MethodOutput:
    """Input times its gradient, per channel; map = sum over channels."""
    grad = ctx.cache.get(ctx.bundle, ctx.x, ctx.target, input_grad=True).input_grad[0]
    ctx.progress.step()
    return _gradient_output(ctx.x[0] * grad, reduce)


def _relu_rule_method(ctx: MethodContext, rule: str, relu_scope: str, reduce: str) -> MethodOutput:
    grad = batch_gradients(ctx.bundle, ctx.x, ctx.target, rule=rule, scope=relu_scope,
                           progress=ctx.progress)[0]
    others = other_activations(ctx.bundle.net)
    info = {"unmodified_activations": others} if others else {}
    return _gradient_output(grad, reduce, info)


@register("deconvnet", label="Deconvnet", family="gradient",
          citation="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks, §2.1",
          description="The image patterns the network responds to, traced back to the pixels; sharp, but "
                      "nearly the same whichever class is chosen.",
          cost="instant",
          params=(_scope_param(), _reduce_param("max_abs")))
def deconvnet(ctx: MethodContext, relu_scope: str, reduce: str) -> MethodOutput:
    """Backward pass where each ReLU passes only positive gradient, ignoring the forward gate."""
    return _relu_rule_method(ctx, "deconvnet", relu_scope, reduce)


@register("guided_backprop", label="Guided backpropagation", family="gradient",
          citation="Springenberg et al. 2015, Striving for Simplicity, §3.4 and Fig. 1",
          description="Sharp outlines of the edges and textures that excite the network, traced back to the "
                      "pixels; they depend little on the chosen class.",
          cost="instant",
          params=(_scope_param(), _reduce_param("max_abs")))
def guided_backprop(ctx: MethodContext, relu_scope: str, reduce: str) -> MethodOutput:
    """Backward pass where each ReLU passes gradient only where both it and the input are positive."""
    return _relu_rule_method(ctx, "guided", relu_scope, reduce)


SMOOTHABLE = ("saliency", "input_x_gradient", "guided_backprop", "deconvnet")


@register("smoothgrad", label="SmoothGrad", family="gradient",
          citation="Smilkov et al. 2017, SmoothGrad: removing noise by adding noise, eq. 3",
          description="A pixel map averaged over many slightly noisy copies of the image, so the speckle of "
                      "a single gradient map fades out.",
          cost="seconds", passes=lambda v, hw, ch: v["samples"],
          params=(Param("base", "choice", "saliency", "gradient method to smooth", choices=SMOOTHABLE,
                        label="Method to smooth"),
                  Param("samples", "int", 50, "noisy copies averaged (n)", min=1, max=10000,
                        label="Noisy copies"),
                  Param("noise", "float", 0.15, "noise σ as a fraction of the input range "
                        "(σ / (x_max − x_min))", min=0.0, max=10.0, label="Noise level"),
                  Param("squared", "bool", False, "average squared attributions (SmoothGrad-SQ)",
                        label="Square before averaging", advanced=True),
                  Param("abs", "bool", True, "absolute gradient for the saliency base", label="Ignore the sign",
                        advanced=True, relevant_when={"base": "saliency"}),
                  _scope_param({"base": ("guided_backprop", "deconvnet")}), _reduce_param("max_abs"),
                  _batch_param()))
def smoothgrad(ctx: MethodContext, base: str, samples: int, noise: float, squared: bool, abs: bool,
               relu_scope: str, reduce: str, batch_size: int) -> MethodOutput:
    """Average of a gradient method's attributions over Gaussian-noised copies of the input."""
    x = ctx.x
    sigma = noise * float(x.max() - x.min())
    gen = torch.Generator().manual_seed(ctx.seed)
    noisy = x + sigma * torch.randn((samples,) + tuple(x.shape[1:]), generator=gen).to(x.device, x.dtype)
    ctx.progress.set_total(samples)
    rule = {"guided_backprop": "guided", "deconvnet": "deconvnet"}.get(base)

    def per_sample(g, inputs):
        if base == "input_x_gradient":
            g = g * inputs
        elif base == "saliency" and abs:
            g = g.abs()
        return g.square() if squared else g

    total = gradient_sum(ctx.bundle, samples, lambda a, b: noisy[a:b], ctx.target, transform=per_sample,
                         rule=rule, scope=relu_scope, batch_size=batch_size, progress=ctx.progress,
                         sample_shape=x.shape[1:])
    attr = total / samples
    return _gradient_output(attr, reduce, {"sigma": sigma})


BASELINES = ("black", "blur", "zeros")
QUADRATURES = ("gausslegendre", "riemann_trapezoid", "riemann_right", "riemann_left", "riemann_middle")


def make_baseline(bundle, x: torch.Tensor, kind: str, blur_sigma: float = 10.0) -> torch.Tensor:
    """Integrated-gradients baseline in model-input space.

    ``black``: pixel value 0 (normalised); ``blur``: Gaussian-blurred image (Sturmfels et al.
    2020); ``zeros``: zeros in normalised space (the dataset-mean image; Captum's default).
    """
    pre = bundle.preprocess
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "black":
        return pre.pixels_to_input(torch.zeros_like(x))
    if kind == "blur":
        k = 2 * int(round(3 * blur_sigma)) + 1
        pixels = pre.input_to_pixels(x)
        return pre.pixels_to_input(gaussian_blur(pixels, [k, k], [blur_sigma, blur_sigma]))
    raise ValueError(f"baseline must be one of {BASELINES}")


def quadrature_rule(n: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Nodes α ∈ [0, 1] and weights for ∫₀¹ f(α) dα with ``n`` evaluations."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        return 0.5 * (nodes + 1), 0.5 * weights
    if method == "riemann_trapezoid":
        if n < 2:
            raise ValueError("the trapezoid rule needs at least 2 steps")
        w = np.full(n, 1.0 / (n - 1))
        w[[0, -1]] *= 0.5
        return np.linspace(0, 1, n), w
    offset = {"riemann_right": 1.0, "riemann_left": 0.0, "riemann_middle": 0.5}.get(method)
    if offset is None:
        raise ValueError(f"integration method must be one of {QUADRATURES}")
    return (np.arange(n) + offset) / n, np.full(n, 1.0 / n)


def _ig_passes(values: dict, hw, channels) -> int:
    """One pass per step, plus a forward for each path end the rule does not evaluate."""
    steps, rule = values["steps"], values["quadrature"]
    if rule == "riemann_trapezoid" and steps < 2:
        return steps + 2  # the method refuses these values; any estimate will do
    nodes, _ = quadrature_rule(steps, rule)
    return steps + sum(end not in (nodes[0], nodes[-1]) for end in (0.0, 1.0))


@register("integrated_gradients", label="Integrated gradients", family="gradient",
          citation="Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks, eqs. 1 and 3",
          description="How much each pixel adds to the class score compared with a plain reference image, "
                      "found by fading the image in from that reference step by step.",
          cost="seconds", passes=_ig_passes,
          params=(Param("baseline", "choice", "black", "reference input x′ the image is compared with",
                        choices=BASELINES, label="Reference image"),
                  Param("steps", "int", 50, "points on the straight path (m)", min=1, max=4096,
                        label="Steps along the path"),
                  Param("quadrature", "choice", "gausslegendre", "rule for the path integral "
                        "(riemann_right is the paper's eq. 3)", choices=QUADRATURES, label="Integration rule",
                        advanced=True),
                  Param("blur_sigma", "float", 10.0, "σ in pixels of the blurred baseline", min=0.1, max=500,
                        label="Blur of the reference (px)", relevant_when={"baseline": "blur"}),
                  _reduce_param("sum"), _batch_param()))
def integrated_gradients(ctx: MethodContext, baseline: str, steps: int, quadrature: str, blur_sigma: float,
                         reduce: str, batch_size: int) -> MethodOutput:
    """(x − x′) × ∫₀¹ ∂F(x′ + α(x − x′))/∂x dα; reports the completeness error (Prop. 1)."""
    x = ctx.x
    ref = make_baseline(ctx.bundle, x, baseline, blur_sigma)
    alphas, weights = quadrature_rule(steps, quadrature)
    a = torch.as_tensor(alphas, dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
    w = torch.as_tensor(weights, dtype=x.dtype, device=x.device)
    diff = x - ref
    ctx.progress.set_total(steps)
    scores = torch.empty(steps, device=x.device)
    # Σ wᵢ ∂F/∂x at x′ + αᵢ(x − x′), summed batch by batch: path and gradients are never stored whole
    total = gradient_sum(ctx.bundle, steps, lambda i, j: ref + a[i:j] * diff, ctx.target, weights=w,
                         batch_size=batch_size, progress=ctx.progress, scores=scores, sample_shape=x.shape[1:])
    attr = diff[0] * total
    # Completeness needs F(x) and F(x′): reuse them when the rule evaluates the endpoints.
    ends = {a: float(scores[i]) for i, a in ((0, alphas[0]), (-1, alphas[-1])) if a in (0.0, 1.0)}
    missing = [a for a in (1.0, 0.0) if a not in ends]
    if missing:
        with torch.inference_mode():
            extra, _ = target_scores(ctx.bundle, torch.cat([x if a else ref for a in missing]), ctx.target)
        ends.update(zip(missing, extra.tolist()))
    delta = ends[1.0] - ends[0.0]
    error = abs(float(attr.sum()) - delta)
    info = {"score_input": ends[1.0], "score_baseline": ends[0.0], "completeness_error": error,
            "relative_completeness_error": error / abs(delta) if delta else float("inf")}
    return _gradient_output(attr, reduce, info)
