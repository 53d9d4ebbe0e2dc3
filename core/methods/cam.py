"""Class activation maps from one captured pass: CAM, Grad-CAM (and its counterfactual),
Guided Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM, Eigen-CAM and Score-CAM.

Every gradient-based variant reads the activations A and gradients G of its layer from the
shared ``CaptureCache``: once (image, target) was captured, switching layer or variant runs
no forward or backward pass. Each map is kept at the layer's resolution (``low_res``) and
upsampled bilinearly (half-pixel centres) to the input; nothing is normalised here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..batching import channels_last_call, run_batches, tune_key
from ..capture import LayerError, target_scores
from ..layers import layout_of
from .gradients import REDUCTIONS, batch_gradients, reduce_channels
from .registry import MethodContext, MethodOutput, Param, register
from .relu_override import SCOPES


def to_grid(t: torch.Tensor, layer: str = "", layout=None) -> torch.Tensor:
    """A layer output as N×C×h×w, by its ``core.layouts.Layout`` (channels first, channels last —
    Swin —, or tokens whose prefix tokens are dropped and the rest folded into their grid). Without
    a layout (or given a model name, the old signature) the layout is inferred from the shape."""
    from ..layouts import Layout, infer_layout

    if not isinstance(layout, Layout):
        if t.ndim not in (3, 4):
            raise LayerError(f"layer {layer!r} outputs shape {tuple(t.shape)}; a CAM needs a spatial or token layer")
        layout = infer_layout(tuple(t.shape))
    return layout.to_grid(t, layer)


def upsample(cam: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """h×w → H×W, bilinear with half-pixel centres (align_corners=False)."""
    return F.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]


def layer_maps(ctx: MethodContext, need_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, G) of ``ctx.layer`` for the single input, as C×h×w, from the capture cache.

    Refuses when the target's score does not depend on the layer (a unit inside or before it):
    the gradient there is structurally zero and a gradient CAM would be a blank map."""
    if ctx.layer is None:
        raise LayerError("this method needs a layer")
    layers = [ctx.layer, *ctx.prefetch_layers]
    cap = ctx.cache.get(ctx.bundle, ctx.x, ctx.target, layers)
    if need_grad and ctx.layer in cap.unreached:
        raise LayerError(unreached_message(ctx))
    layout = layout_of(ctx.bundle, ctx.layer, cap.activations[ctx.layer])
    a = to_grid(cap.activations[ctx.layer], ctx.layer, layout)[0].float()
    g = to_grid(cap.gradients[ctx.layer], ctx.layer, layout)[0].float()
    return a, g


def unreached_message(ctx: MethodContext) -> str:
    """Why a layer has no gradient from the target, and which layer would have one."""
    from ..layers import layer_before, layer_table

    target = ctx.target
    if not hasattr(target, "channel"):
        return (f"the score of {target.describe()} does not depend on layer {ctx.layer!r} (its gradient there is "
                "structurally zero); choose a layer on the path to the output")
    unit_layer = target.layer.partition("#")[0]
    better = layer_before(layer_table(ctx.bundle), unit_layer) or unit_layer
    return (f"unit {target.layer}:{target.channel} is computed before or inside layer {ctx.layer!r}, so its "
            f"gradient there is structurally zero; choose a layer that runs before the unit, e.g. {better} "
            "(or leave the layer out to get that one)")


def _output(ctx: MethodContext, low: torch.Tensor, relu: bool, info: dict | None = None) -> MethodOutput:
    low = F.relu(low) if relu else low
    return MethodOutput(map=upsample(low, tuple(ctx.x.shape[-2:])), low_res=low, info=info or {})


def weighted_sum(weights: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Σ_k w_k A_k for C weights (or C×h×w per-location weights) and C×h×w A."""
    if weights.ndim == 1:
        weights = weights[:, None, None]
    return (weights * a).sum(0)


_RELU = Param("relu", "bool", True, "ReLU on the map: keep only positive evidence (the papers' choice)",
              label="Positive evidence only", advanced=True)
_ALPHA_NORM = Param("alpha_norm", "bool", True,
                    "normalise α over positions as the authors' code (False: pytorch-grad-cam's variant)",
                    label="Normalise α (authors' code)", advanced=True)


@register("gradcam", label="Grad-CAM", family="cam", needs_layer=True,
          citation="Selvaraju et al. 2017, Grad-CAM, eqs. 1-2", cost="instant",
          description="Which regions of the image made the network decide this class, at the resolution of "
                      "the chosen layer.",
          params=(_RELU,))
def gradcam(ctx: MethodContext, relu: bool) -> MethodOutput:
    """Channels weighted by their spatially averaged gradient: ReLU(Σ_k mean(∂y/∂A_k) A_k)."""
    a, g = layer_maps(ctx)
    return _output(ctx, weighted_sum(g.mean((1, 2)), a), relu)


@register("gradcam_counterfactual", label="Grad-CAM counterfactual", family="cam", needs_layer=True,
          citation="Selvaraju et al. 2017, Grad-CAM, §5 (negated gradients)", cost="instant",
          description="Which regions argue against this class: hiding them would make the network more sure "
                      "of it.",
          params=(_RELU,))
def gradcam_counterfactual(ctx: MethodContext, relu: bool) -> MethodOutput:
    """Regions whose removal would raise the score: Grad-CAM with negated gradients."""
    a, g = layer_maps(ctx)
    return _output(ctx, weighted_sum(-g.mean((1, 2)), a), relu)


def gradcam_pp_weights(a: torch.Tensor, g: torch.Tensor, alpha_norm: bool = True) -> torch.Tensor:
    """Grad-CAM++ channel weights (Chattopadhay et al. 2018, eq. 19, with exp(S) cancelled).

    α = g² / (2g² + Σ_ab A_ab · g³); ``alpha_norm`` divides α by its sum over the positions
    where g > 0, as in the authors' code; w_k = Σ_ij α_ij · ReLU(g_ij).
    """
    g2, g3 = g * g, g * g * g
    denom = 2 * g2 + a.sum((1, 2), keepdim=True) * g3
    if alpha_norm:
        alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
        norm = (alpha * (g > 0)).sum((1, 2), keepdim=True)
        alpha = alpha / torch.where(norm != 0, norm, torch.ones_like(norm))
    else:  # pytorch-grad-cam: ε in the denominator, α = 0 where g = 0, no renormalisation
        alpha = torch.where(g != 0, g2 / (denom + 1e-7), torch.zeros_like(g))
    return (alpha * F.relu(g)).sum((1, 2))


@register("gradcam_pp", label="Grad-CAM++", family="cam", needs_layer=True,
          citation="Chattopadhay et al. 2018, Grad-CAM++, eq. 19 (authors' code: exp cancelled, α normalised)",
          cost="instant",
          description="Like Grad-CAM, but better at covering the whole object, or several objects of the "
                      "class at once.",
          params=(_RELU, _ALPHA_NORM))
def gradcam_pp(ctx: MethodContext, relu: bool, alpha_norm: bool) -> MethodOutput:
    """Channels weighted by positive gradients with pixel-wise α from higher-order terms."""
    a, g = layer_maps(ctx)
    return _output(ctx, weighted_sum(gradcam_pp_weights(a, g, alpha_norm), a), relu)


@register("xgradcam", label="XGrad-CAM", family="cam", needs_layer=True,
          citation="Fu et al. 2020, Axiom-based Grad-CAM, eq. 14", cost="instant",
          description="A Grad-CAM variant that weighs each feature by how strongly it is present; usually "
                      "close to Grad-CAM.",
          params=(_RELU,))
def xgradcam(ctx: MethodContext, relu: bool) -> MethodOutput:
    """Channels weighted by Σ_ij (A_ij / Σ A) · g_ij."""
    a, g = layer_maps(ctx)
    w = (a / (a.sum((1, 2), keepdim=True) + 1e-7) * g).sum((1, 2))
    return _output(ctx, weighted_sum(w, a), relu)


@register("layercam", label="Layer-CAM", family="cam", needs_layer=True,
          citation="Jiang et al. 2021, LayerCAM, eqs. 5-6", cost="instant",
          description="Like Grad-CAM but judging every location separately, so early, detailed layers give "
                      "useful maps too.",
          params=(_RELU,))
def layercam(ctx: MethodContext, relu: bool) -> MethodOutput:
    """Per-location weights: ReLU(Σ_k ReLU(g_k) ⊙ A_k); works at shallow layers too."""
    a, g = layer_maps(ctx)
    return _output(ctx, weighted_sum(F.relu(g), a), relu)


def principal_projection(a: torch.Tensor, center: bool = True) -> torch.Tensor:
    """Projection of the h·w activation vectors (C-dim) onto their first principal direction.

    SVD's sign is arbitrary; it is fixed so the map correlates positively with the mean
    activation over channels (where the features are strong).
    """
    c, h, w = a.shape
    m = a.reshape(c, -1).T.double()
    if center:
        m = m - m.mean(0, keepdim=True)
    _, _, vt = torch.linalg.svd(m, full_matrices=False)
    proj = (m @ vt[0]).reshape(h, w)
    strength = a.mean(0).double()
    if torch.sum((proj - proj.mean()) * (strength - strength.mean())) < 0:
        proj = -proj
    return proj.float()


@register("eigencam", label="Eigen-CAM", family="cam", needs_layer=True,
          citation="Muhammad & Yeasin 2020, Eigen-CAM, §3 (first principal component)", cost="instant",
          description="The strongest pattern the chosen layer sees in the image, whatever the class (the "
                      "chosen class is ignored).",
          params=(_RELU, Param("center", "bool", True, "centre the activations before the SVD (PCA)",
                               label="Centre the activations", advanced=True)))
def eigencam(ctx: MethodContext, relu: bool, center: bool) -> MethodOutput:
    """Class-agnostic: the activations projected on their first principal component."""
    a, _ = layer_maps(ctx, need_grad=False)
    return _output(ctx, principal_projection(a, center), relu)


def cam_weights(net: nn.Module, channels: int) -> torch.Tensor:
    """The K×C weight of the final linear layer, if it reads ``channels`` features."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears or linears[-1].in_features != channels:
        raise LayerError("CAM needs a model whose last layer is one linear layer reading the pooled "
                         "channels of the chosen layer (GAP + linear, e.g. ResNet); use Grad-CAM here")
    return linears[-1].weight.detach().float()


def linear_head(net: nn.Module, a: torch.Tensor, logits: torch.Tensor, layer: str) -> torch.Tensor:
    """The K×C class weights when the logits are exactly the final linear layer applied to the
    globally averaged channels of ``a`` (C×h×w) — CAM's premise — else a ``LayerError``."""
    weights = cam_weights(net, a.shape[0])
    linear = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    pooled = linear(a.mean((1, 2))[None].to(linear.weight.dtype))
    if not torch.allclose(pooled.float(), logits.float(), rtol=1e-3, atol=1e-3 * float(logits.abs().max())):
        raise LayerError(f"CAM does not apply at layer {layer!r}: the logits are not a linear function of "
                         "its globally averaged channels (something else sits between); use Grad-CAM")
    return weights


@register("cam", label="CAM", family="cam", needs_layer=True,
          citation="Zhou et al. 2016, Learning Deep Features for Discriminative Localization, eq. 2",
          cost="instant",
          description="Which regions raised this class's score, read straight from the network's last layer; "
                      "only for networks that end in average pooling and one linear layer.",
          params=(Param("relu", "bool", False, "ReLU on the map (the paper keeps the signed sum)",
                        label="Positive evidence only", advanced=True),))
def cam(ctx: MethodContext, relu: bool) -> MethodOutput:
    """Σ_k w_k^c A_k with w^c the final linear weights of the class (GAP + linear models)."""
    if not hasattr(ctx.target, "index"):
        raise LayerError("CAM explains a class; a unit target needs Grad-CAM")
    a, _ = layer_maps(ctx)
    cap = ctx.cache.get(ctx.bundle, ctx.x, ctx.target, [ctx.layer])
    weights = linear_head(ctx.bundle.net, a, cap.logits, ctx.layer)
    return _output(ctx, weighted_sum(weights[ctx.target.index], a), relu)


@register("guided_gradcam", label="Guided Grad-CAM", family="cam", needs_layer=True,
          citation="Selvaraju et al. 2017, Grad-CAM, §3 (guided backprop × upsampled Grad-CAM)",
          cost="instant", passes=2,
          description="Fine pixel detail (guided backpropagation) kept only inside the regions Grad-CAM finds "
                      "for this class.",
          params=(Param("interpolation", "choice", "bilinear", "upsampling of Grad-CAM (Captum's default: nearest)",
                        choices=("bilinear", "nearest"), label="Upsampling", advanced=True),
                  Param("relu_scope", "choice", "all", "which ReLUs guided backprop modifies", choices=SCOPES,
                        label="Which ReLUs are modified", advanced=True),
                  Param("reduce", "choice", "max_abs", "how the colour channels collapse into one map",
                        choices=REDUCTIONS, label="Combine colour channels by", advanced=True)))
def guided_gradcam(ctx: MethodContext, interpolation: str, relu_scope: str, reduce: str) -> MethodOutput:
    """Pixel-precise and class-discriminative: guided backprop ⊙ upsampled Grad-CAM."""
    a, g = layer_maps(ctx)
    low = F.relu(weighted_sum(g.mean((1, 2)), a))
    size = tuple(ctx.x.shape[-2:])
    up = upsample(low, size) if interpolation == "bilinear" else F.interpolate(low[None, None], size=size)[0, 0]
    guided = batch_gradients(ctx.bundle, ctx.x, ctx.target, rule="guided", scope=relu_scope)[0]
    attr = guided * up
    return MethodOutput(map=reduce_channels(attr, reduce), attribution=attr, low_res=low)


@register("scorecam", label="Score-CAM", family="cam", needs_layer=True,
          citation="Wang et al. 2020, Score-CAM, eqs. 5-8 (softmax score of the class)",
          cost="minutes", passes=lambda v, hw, channels: channels + 1,  # capture + one forward per channel
          description="Which regions matter, found without gradients by showing the network the image seen "
                      "through each of the layer's feature maps and scoring the class.",
          params=(_RELU,
                  Param("variant", "choice", "paper", "'paper': probability of the class (softmax; sigmoid for "
                        "multi-label heads) for each masked input; 'pytorch-grad-cam': softmax over channels of the "
                        "logits, align_corners upsampling",
                        choices=("paper", "pytorch-grad-cam"), label="Variant", advanced=True),
                  Param("batch_size", "int", 0, "masked inputs per forward (0: chosen for the device)", min=0,
                        max=4096, label="Images per batch (0: automatic)", advanced=True)))
def scorecam(ctx: MethodContext, relu: bool, variant: str, batch_size: int) -> MethodOutput:
    """Channels weighted by the score of the input masked by each normalised, upsampled channel."""
    a, _ = layer_maps(ctx, need_grad=False)
    size = tuple(ctx.x.shape[-2:])
    # Constant channels give an all-zero mask: one shared forward instead of one each.
    flat = a.flatten(1)
    constant = flat.amax(1) <= flat.amin(1)
    live = (~constant).nonzero().flatten()
    n = len(live)
    scores = torch.empty(len(a), device=ctx.x.device)
    index = ctx.target.index if hasattr(ctx.target, "index") else None
    ctx.progress.set_total(n + 1)

    def forward(batch):
        score, logits = target_scores(ctx.bundle, batch, ctx.target)
        if index is not None and variant == "paper":
            return ctx.bundle.probabilities(logits)[:, index]
        return score

    def work(start, stop):
        with torch.inference_mode():
            up = F.interpolate(a[None, live[start:stop]], size=size, mode="bilinear",
                               align_corners=variant != "paper")[0]
            lo, hi = up.amin((1, 2), keepdim=True), up.amax((1, 2), keepdim=True)
            masks = (up - lo) / (hi - lo + 1e-8)
            scores[live[start:stop]] = channels_last_call(ctx.bundle, forward, ctx.x * masks[:, None]).float()

    run_batches(n, batch_size, work, ctx.progress, tune=tune_key(ctx.bundle, ctx.x.shape[1:], backward=False))
    if n < len(a):
        with torch.inference_mode():
            scores[constant] = forward(torch.zeros_like(ctx.x)).float()
    ctx.progress.step()
    weights = scores if variant == "paper" else torch.softmax(scores, 0)
    return _output(ctx, weighted_sum(weights, a), relu, {"forward_passes": n + int(n < len(a))})
