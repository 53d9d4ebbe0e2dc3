"""Batched class activation maps for distillation: Grad-CAM++, Grad-CAM or CAM of one class
per image, at one layer, for the teacher (no graph kept) or the student (differentiable).

The formulas are the engine's own (``core.methods.cam``): Grad-CAM++ weights
(Chattopadhay et al. 2018, eq. 19 with the authors' α normalisation), Grad-CAM's mean gradient
(Selvaraju et al. 2017, eqs. 1-2), CAM's final linear weights (Zhou et al. 2016, eq. 2); each map
is ReLU(Σ_k w_k A_k). For the student the gradient ∂y_c/∂A is taken with
``torch.autograd.grad(create_graph=True)``, so the map — weights included — is a differentiable
function of the student's parameters (the interpretability loss needs second derivatives).

Batching: the class scores of all images are summed before one gradient call. That gives each
image its own gradient when nothing between the layer and the logits mixes images, which holds
in eval mode and for the default last-block layers; a train-mode BatchNorm *after* the chosen
layer mixes them slightly (as it mixes the forward pass itself).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from ..capture import LayerError, get_layer, hooked
from ..methods.cam import gradcam_pp_weights, to_grid
from ..models.adapters import to_logits

METHODS = ("gradcam_pp", "gradcam", "cam")
NORMS = ("l2", "max", "none")


def final_linear(net: nn.Module, channels: int) -> nn.Linear:
    """The last ``nn.Linear`` of ``net``, which must read ``channels`` pooled features (CAM)."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears or linears[-1].in_features != channels:
        raise LayerError("CAM needs a network ending in global average pooling and one linear layer "
                         f"that reads the {channels} channels of the chosen layer; use gradcam_pp or gradcam")
    return linears[-1]


def channel_weights(method: str, net: nn.Module, a: torch.Tensor, g: torch.Tensor | None,
                    classes: torch.Tensor) -> torch.Tensor:
    """N×C weights of the N×C×h×w activations ``a`` (``g``: ∂score/∂a, not needed for CAM)."""
    if method == "cam":
        return final_linear(net, a.shape[1]).weight[classes].to(a.dtype)
    if method == "gradcam":
        return g.mean((2, 3))
    if method == "gradcam_pp":  # per (image, channel) the formula is the single-image one
        n, c = a.shape[:2]
        return gradcam_pp_weights(a.flatten(0, 1), g.flatten(0, 1)).view(n, c)
    raise ValueError(f"unknown map method {method!r}; choose one of {', '.join(METHODS)}")


def combine(weights: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """ReLU(Σ_k w_k A_k) per image: N×C weights, N×C×h×w activations → N×h×w."""
    return F.relu((weights[:, :, None, None] * a).sum(1))


def class_scores(logits: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, classes.view(-1, 1)).sum()


def student_maps(net: nn.Module, x: torch.Tensor, layer: str, method: str,
                 classes: torch.Tensor | None = None, create_graph: bool = True,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, N×h×w maps) of a network whose parameters are being trained.

    The maps of ``classes`` (default: each image's predicted class) keep their graph, so
    a loss on them reaches the parameters. Uses ``core.capture.hooked`` (the layer's output is
    recorded and a clone runs on, so in-place operations downstream cannot corrupt it)."""
    with hooked(net, [layer]) as store:
        logits = to_logits(net(x))
    if layer not in store:
        raise LayerError(f"layer {layer!r} did not run during the forward pass")
    raw = store[layer]
    a = to_grid(raw, layer)
    if classes is None:
        classes = logits.argmax(1)
    g = None
    if method != "cam":
        (g_raw,) = torch.autograd.grad(class_scores(logits, classes), raw, create_graph=create_graph)
        g = to_grid(g_raw, layer)
    return logits, combine(channel_weights(method, net, a, g, classes), a)


@contextlib.contextmanager
def _leaf_at(net: nn.Module, layer: str, store: dict):
    """Forward hook: the layer's output continues as a fresh leaf that requires grad, so the
    backward pass of a frozen network stops there (no work below the layer)."""
    def hook(module, inputs, output):
        if not isinstance(output, torch.Tensor):
            raise LayerError(f"layer {layer!r} returns {type(output).__name__}, not a tensor")
        store[layer] = output.detach().requires_grad_(True)
        return store[layer]

    handle = get_layer(net, layer).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def teacher_maps(net: nn.Module, x: torch.Tensor, layer: str, method: str,
                 classes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, N×h×w maps) of a frozen network, detached. Only the part of the network after
    ``layer`` is differentiated; ``classes`` default to the network's own predictions."""
    store: dict = {}
    with torch.enable_grad(), _leaf_at(net, layer, store):
        logits = to_logits(net(x))
        if layer not in store:
            raise LayerError(f"layer {layer!r} did not run during the forward pass")
        raw = store[layer]
        if classes is None:
            classes = logits.argmax(1)
        g = None
        if method != "cam":
            (g_raw,) = torch.autograd.grad(class_scores(logits, classes), raw)
            g = to_grid(g_raw, layer)
        a = to_grid(raw.detach(), layer)
        with torch.no_grad():
            maps = combine(channel_weights(method, net, a, g, classes), a)
    return logits.detach(), maps.detach()


def resize_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N×h×w → N×H×W, bilinear with half-pixel centres (as ``core.methods.cam.upsample``)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def common_size(*maps: torch.Tensor) -> tuple[int, int]:
    """The larger height and width among the maps: both are upsampled to it, never shrunk."""
    return (max(m.shape[-2] for m in maps), max(m.shape[-1] for m in maps))


def normalise(maps: torch.Tensor, how: str = "l2", eps: float = 1e-12) -> torch.Tensor:
    """Scale each N×H×W map: ``l2`` to unit Euclidean norm (attention transfer's
    Q/‖Q‖₂, Zagoruyko & Komodakis 2017), ``max`` to a maximum of 1, ``none`` unchanged.
    An all-zero map stays zero."""
    if how == "none":
        return maps
    flat = maps.flatten(1)
    if how == "l2":
        scale = flat.norm(dim=1)
    elif how == "max":
        scale = flat.amax(1)
    else:
        raise ValueError(f"unknown map normalisation {how!r}; choose one of {', '.join(NORMS)}")
    return maps / (scale + eps).view(-1, *([1] * (maps.ndim - 1)))


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image Pearson correlation of two N×H×W map stacks (0 where a map is constant)."""
    a = a.flatten(1).double()
    b = b.flatten(1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    denom = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(denom > 0, (a * b).sum(1) / torch.where(denom > 0, denom, 1), 0).float()
