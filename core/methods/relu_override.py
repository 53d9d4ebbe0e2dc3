"""Swapping the backward rule of ReLUs for deconvnet and guided backpropagation.

Backward through a ReLU with output ``y`` and upstream gradient ``g``:

* ordinary gradient: ``g · [y > 0]``
* deconvnet (Zeiler & Fergus 2014, §2.1 "rectification"): ``max(g, 0)``
* guided backprop (Springenberg et al. 2015, eq. in Fig. 1): ``max(g, 0) · [y > 0]``

The gate uses the forward *output*, so in-place ReLUs (whose input was overwritten) and
ReLU modules reused several times are handled: each call gets its own autograd node.
In-place calls stay in place (models may ignore the return value of ``y.relu_()``): the
modified result is copied back into the argument, whose history then runs through it.

``scope="modules"`` changes ``nn.ReLU`` modules only (as Captum does); ``scope="all"``
also catches functional calls (``F.relu``, ``torch.relu``, ``Tensor.relu``, in-place
variants) through a ``TorchFunctionMode``. Other activations (SiLU, GELU, Hardswish,
ReLU6, ...) keep their ordinary gradient; ``other_activations`` lists those found.
"""

from __future__ import annotations

import contextlib
from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

RELU_RULES = ("guided", "deconvnet")
SCOPES = ("all", "modules")
_OTHER = (nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.Mish,
          nn.PReLU, nn.Sigmoid, nn.Tanh, nn.Softplus)


class _ModifiedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gate: bool):
        y = x.clamp(min=0)
        ctx.gate = gate
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        grad = grad.clamp(min=0)
        if ctx.gate:
            grad = grad * (y > 0)
        return grad, None


def _modified_relu(x: torch.Tensor, gate: bool, inplace: bool) -> torch.Tensor:
    """ReLU with the modified backward; ``inplace`` rectifies ``x`` itself and returns it."""
    y = _ModifiedReLU.apply(x, gate)
    if not inplace:
        return y
    # copy_ rebases x's history on CopyBackwards, which hands the whole gradient to y and
    # so through _ModifiedReLU's backward (the old x gets zeros), as torch.relu_ would.
    x.copy_(y)
    return x


class _FunctionalReLUMode(TorchFunctionMode):
    def __init__(self, gate: bool):
        super().__init__()
        self.gate = gate
        self.calls = 0
        self.inplace_funcs = {torch.relu_, torch.Tensor.relu_}
        if hasattr(F, "relu_"):
            self.inplace_funcs.add(F.relu_)
        self.funcs = {F.relu, torch.relu, torch.Tensor.relu} | self.inplace_funcs

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.funcs:
            self.calls += 1
            # F.relu(x, inplace=True) arrives here as F.relu with the flag (kwarg or positional)
            inplace = func in self.inplace_funcs or (
                func is F.relu and bool(kwargs.get("inplace", args[1] if len(args) > 1 else False)))
            return _modified_relu(args[0], self.gate, inplace)
        return func(*args, **kwargs)


def other_activations(net: nn.Module) -> dict[str, int]:
    """Activation modules that keep their ordinary gradient, by type name."""
    return dict(Counter(type(m).__name__ for m in net.modules() if isinstance(m, _OTHER)))


@contextlib.contextmanager
def relu_rule(net: nn.Module, rule: str, scope: str = "all"):
    """Context in which the ReLUs of ``net`` backpropagate by ``rule`` (guided / deconvnet)."""
    if rule not in RELU_RULES:
        raise ValueError(f"ReLU rule must be one of {RELU_RULES}")
    if scope not in SCOPES:
        raise ValueError(f"ReLU scope must be one of {SCOPES}")
    if isinstance(net, torch.jit.ScriptModule):
        raise ValueError("deconvnet and guided backprop need a Python model: the ReLUs of a "
                         "TorchScript model are compiled and cannot be swapped")
    gate = rule == "guided"
    if scope == "all":
        with _FunctionalReLUMode(gate) as mode:
            yield mode
        return
    patched = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        for m in patched:
            m.forward = lambda x, _gate=gate, _inplace=m.inplace: _modified_relu(x, _gate, _inplace)
        yield None
    finally:
        for m in patched:
            m.__dict__.pop("forward", None)
