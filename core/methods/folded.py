"""True input gradients through the BatchNorm-folded twin of a network.

An eval-mode BatchNorm is an affine map per channel, so folding it into the preceding
convolution (``bundle.fast_logits``'s twin, torch.fx) changes neither the function nor its
input gradient, only float rounding: ``∂F/∂x`` is the same with less work (no BatchNorm
forward or backward, about a third fewer tensors kept for backward on resnet18). The twin's
parameters are frozen, since only ``∂/∂x`` is wanted (Ioffe & Szegedy 2015, §3, for the
affine inference form; Jacob et al. 2018, §3.2, for the folding).

It is refused — the caller then uses ``bundle.net`` — wherever the user's own modules must
run: backward rules that patch ReLUs (guided backprop, deconvnet), targets that read a layer
through hooks, models whose forward changes their buffers, and models FX cannot trace.

The twin is the very object ``bundle.fast_logits`` builds and caches (same attributes, same
signature), so a bundle holds one folded copy for both uses. It belongs in
``core/models/bundle.py`` as a public ``ModelBundle.folded_net()`` that ``fast_logits`` calls.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.adapters import to_logits
from ..models.bundle import _fuse


def _signature(bundle) -> tuple:
    # the same key bundle.fast_logits checks: rebuilt when the device, the net or a parameter changes
    return bundle.device, id(bundle.net), tuple(p._version for p in bundle.net.parameters())


def folded_twin(bundle) -> nn.Module | None:
    """The BatchNorm-folded copy of ``bundle.net`` with frozen parameters, or ``None`` when the
    model has to run as itself (its forward changes buffers, it is TorchScript, FX cannot trace
    it, or it has no BatchNorm to fold)."""
    if getattr(bundle, "mutates_buffers", False) or not hasattr(bundle, "fast_logits"):
        return None
    if isinstance(bundle.net, torch.jit.ScriptModule):
        return None
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in bundle.net.modules()):
        return None  # nothing to fold: the twin would only cost memory
    signature = _signature(bundle)
    if getattr(bundle, "_fused_signature", None) != signature:
        bundle._fused = _fuse(bundle.net)
        bundle._fused_signature = signature
    twin = bundle._fused
    if twin is bundle.net:  # FX could not trace it
        return None
    for p in twin.parameters():
        p.requires_grad_(False)  # never touches bundle.net: the twin holds its own tensors
    return twin


def gradient_forward(bundle, target, rule: str | None):
    """A function ``x ↦ N×K logits`` for a gradient pass: the folded twin for true gradients of
    a class-score target, else ``None`` (run ``bundle.net`` with its hooks)."""
    if rule is not None or target.layers:
        return None
    twin = folded_twin(bundle)
    if twin is None:
        return None
    return lambda x: to_logits(twin(x))

