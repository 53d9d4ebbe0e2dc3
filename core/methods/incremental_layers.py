"""How each layer moves a changed rectangle, for incremental occlusion (Nakandala, Kumar &
Papakonstantinou 2019, Krypton, §3.2: projective fields of convolution and pooling): which ops are
pointwise, binary or local windows, the output range a changed input range reaches, and the
rectangles' bookkeeping (``Region``, ``WorkCount``)."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

POINTWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
                     nn.Tanh, nn.GELU, nn.LeakyReLU, nn.ELU, nn.Mish, nn.Identity, nn.Dropout, nn.Dropout2d,
                     nn.BatchNorm2d)
POINTWISE_FUNCTIONS = {torch.relu, F.relu, F.relu6, F.hardtanh, F.silu, F.hardswish, F.hardsigmoid,
                       torch.sigmoid, F.sigmoid, torch.tanh, F.gelu, F.leaky_relu, F.elu, F.mish, F.dropout}
POINTWISE_METHODS = {"relu", "sigmoid", "tanh", "contiguous", "clone"}
BINARY = {operator.add, operator.mul, operator.sub, operator.iadd, operator.imul, torch.add, torch.mul,
          torch.sub}
BINARY_METHODS = {"add", "mul", "sub"}
OUT_OF_PLACE = {operator.iadd: operator.add, operator.imul: operator.mul}  # cached values stay intact


@dataclass
class Region:
    """A batch of changed n×m rectangles on one map: ``values`` B×C×n×m (None in a dry walk, which
    follows only the geometry), top-left corners ``ys``, ``xs``."""

    values: torch.Tensor | None
    ys: list[int]
    xs: list[int]
    n: int
    m: int


WHOLE = "whole map"  # a dry walk's value for a layer recomputed whole


@dataclass
class WorkCount:
    """Pixels and multiply-adds recomputed per layer for one patch, against the full forward."""

    pixels: dict[str, tuple[int, int]] = field(default_factory=dict)  # layer -> (recomputed, full)
    macs: dict[str, tuple[int, int]] = field(default_factory=dict)  # conv layer -> (recomputed, full)
    first_full: str = ""  # the layer from which the plain forward runs

    @property
    def mac_fraction(self) -> float:
        done, full = (sum(v[i] for v in self.macs.values()) for i in (0, 1))
        return done / full if full else 1.0


def window_op(module):
    """(kernel, stride, padding, dilation, pad value, fn) of a local window module, else None."""
    pair = nn.modules.utils._pair
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            return None
        m = module
        fn = lambda t: F.conv2d(t, m.weight, m.bias, m.stride, 0, m.dilation, m.groups)  # noqa: E731
        return module.kernel_size, module.stride, module.padding, module.dilation, 0.0, fn
    if isinstance(module, nn.MaxPool2d):
        if module.ceil_mode or module.return_indices:
            return None
        k, s, d = pair(module.kernel_size), pair(module.stride or module.kernel_size), pair(module.dilation)
        fn = lambda t: F.max_pool2d(t, k, s, 0, d)  # noqa: E731
        return k, s, pair(module.padding), d, -math.inf, fn
    if isinstance(module, nn.AvgPool2d):
        p = pair(module.padding)
        if module.ceil_mode or (not module.count_include_pad and any(p)):
            return None
        k, s = pair(module.kernel_size), pair(module.stride or module.kernel_size)
        fn = lambda t: F.avg_pool2d(t, k, s, 0, False, True, module.divisor_override)  # noqa: E731
        return k, s, p, (1, 1), 0.0, fn
    return None


def out_range(a: int, n: int, k: int, s: int, p: int, d: int, size: int) -> tuple[int, int]:
    """Outputs [lo, hi) of a window op that read any input in [a, a + n)."""
    lo = max(0, -(((k - 1) * d - p - a) // s))  # ceil((a + p - (k-1)d) / s)
    hi = min(size, (a + n - 1 + p) // s + 1)
    return lo, max(hi, lo)


def fit(lo: list[int], hi: list[int], size: int) -> tuple[int, list[int]]:
    """One rectangle side for the whole batch (the widest) and each patch's start, kept on the map."""
    n = min(size, max(1, max(h - l for l, h in zip(lo, hi))))
    return n, [min(l, size - n) for l in lo]


def layout(t: torch.Tensor):
    """channels_last for float32 maps (about 13% faster convolutions on CPU, and a crop copies whole
    pixel rows); other dtypes as they are (float64 channels_last convolutions are very slow)."""
    return torch.channels_last if t.ndim == 4 and t.dtype == torch.float32 else torch.contiguous_format


def area(t) -> int:
    return t.shape[-2] * t.shape[-1]


def cat_dim(node) -> int:
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    return dim + 4 if isinstance(dim, int) and dim < 0 else dim
