"""Incremental inference for occlusion (Nakandala, Kumar & Papakonstantinou 2019, "Incremental and
approximate inference for faster occlusion-based deep CNN explanations", Krypton, §3).

An occluded image differs from the original only inside its patch, so each spatially local layer
(convolution, pooling, pointwise ops, residual adds) differs only inside the patch's projective
field. ``IncrementalOcclusion`` runs the full forward once and keeps every activation; then, for a
batch of patches, it walks the model's ``torch.fx`` graph and recomputes per layer only the changed
rectangle of each patch, cropped from the cached activation with the halo the layer's kernel,
stride, padding and dilation need. Once a rectangle covers (nearly) the whole map, or a layer mixes
the whole map (pooling to a vector, flatten, linear, anything unknown), that layer and the rest run
as the plain batched forward. Exact: the same arithmetic on the same numbers, up to float rounding.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..models.adapters import to_logits

FULL_FRACTION = 0.5  # a changed rectangle covering this share of its map is recomputed whole
MIN_COVER_AT_GLOBAL = 0.5  # a whole-map op reached before the rectangles cover this: named as the cause
MAX_WORK = 0.85  # incremental convolution work above this share of the full work: not worth it

POINTWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
                     nn.Tanh, nn.GELU, nn.LeakyReLU, nn.ELU, nn.Mish, nn.Identity, nn.Dropout, nn.Dropout2d,
                     nn.BatchNorm2d)
POINTWISE_FUNCTIONS = {torch.relu, F.relu, F.relu6, F.hardtanh, F.silu, F.hardswish, F.hardsigmoid,
                       torch.sigmoid, F.sigmoid, torch.tanh, F.gelu, F.leaky_relu, F.elu, F.mish, F.dropout}
POINTWISE_METHODS = {"relu", "sigmoid", "tanh", "contiguous", "clone"}
BINARY = {operator.add, operator.mul, operator.sub, operator.iadd, operator.imul, torch.add, torch.mul,
          torch.sub}
BINARY_METHODS = {"add", "mul", "sub"}


class Unsupported(Exception):
    """The model cannot run incrementally; the message says why, in words."""


@dataclass
class Region:
    """A batch of changed rectangles on one map: ``values`` B×C×h×w, top-left corners ``ys``, ``xs``."""

    values: torch.Tensor
    ys: list[int]
    xs: list[int]


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


def _window_op(module):
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


def _out_range(a: int, n: int, k: int, s: int, p: int, d: int, size: int) -> tuple[int, int]:
    """Outputs [lo, hi) of a window op that read any input in [a, a + n)."""
    lo = max(0, -(((k - 1) * d - p - a) // s))  # ceil((a + p - (k-1)d) / s)
    hi = min(size, (a + n - 1 + p) // s + 1)
    return lo, max(hi, lo)


def _fit(lo: list[int], hi: list[int], size: int) -> tuple[int, list[int]]:
    """One rectangle side for the whole batch (the widest) and each patch's start, kept on the map."""
    n = min(size, max(1, max(h - l for l, h in zip(lo, hi))))
    return n, [min(l, size - n) for l in lo]


class IncrementalOcclusion:
    """Scores of occluded copies of ``x`` (1×C×H×W) from cached activations (Krypton).

    Raises ``Unsupported`` with a reason when the model's graph cannot be followed or when the
    rectangles would not save work; the caller then runs the plain forward.
    """

    def __init__(self, bundle, x: torch.Tensor, target, probe_window: int, max_work: float | None = None):
        if getattr(target, "layers", ()):
            raise Unsupported("the target is a unit inside the network, read by hooks")
        if bundle.mutates_buffers or bundle.scripted:
            raise Unsupported("the model changes its buffers or is TorchScript")
        try:
            from torch.fx.experimental.optimization import fuse

            self.gm = fuse(bundle.net, inplace=False).eval()  # the same folded twin as fast_logits
        except Exception as exc:  # noqa: BLE001 (any tracing failure means: not followable)
            raise Unsupported(f"the model's graph cannot be traced ({type(exc).__name__})") from exc
        for m in self.gm.modules():  # our own copy: in-place ops would overwrite cached activations
            if getattr(m, "inplace", False):
                m.inplace = False
        self.bundle, self.target, self.x = bundle, target, x
        self.modules = dict(self.gm.named_modules())
        self.nodes = list(self.gm.graph.nodes)
        with torch.inference_mode():
            self.cache = self._run_full(x)
        self.count = WorkCount()
        bg = torch.zeros_like(x)
        h, w = x.shape[-2:]
        y, xx = max(0, (h - probe_window) // 2), max(0, (w - probe_window) // 2)
        with torch.inference_mode():
            self._forward([(y, xx)], probe_window, bg, self.count)
        first, share = self.count.first_full, self.count.mac_fraction
        if share > (MAX_WORK if max_work is None else max_work):
            why = (f"layer {first[1:]} mixes the whole map before the patch's changes cover it, so "
                   if first.startswith("!") else "")
            raise Unsupported(f"{why}recomputing only the changed regions would save little "
                              f"({100 * share:.0f}% of the plain work)")
        self.count.first_full = first.lstrip("!")

    # -- the plain forward, keeping every value ----------------------------------------------
    def _run_full(self, x):
        env = {}
        for node in self.nodes:
            if node.op == "placeholder":
                env[node] = x
            elif node.op == "output":
                env[node] = fx.node.map_arg(node.args[0], lambda n: env[n])
            else:
                env[node] = self._call(node, env)
            if isinstance(env[node], torch.Tensor):  # channels_last: crops copy whole pixel rows
                env[node] = env[node].clone(memory_format=_layout(env[node]))
        self.depends = self._input_dependent()
        for node in self.nodes:
            if node in self.depends and node.op != "output" and not isinstance(env[node], torch.Tensor):
                raise Unsupported(f"step {node.name} computes with the input's shape")
        return env

    def _input_dependent(self) -> set:
        dep = set()
        for node in self.nodes:
            if node.op == "placeholder" or any(a in dep for a in node.all_input_nodes):
                dep.add(node)
        return dep

    def _call(self, node, env):
        args = fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "get_attr":
            obj = self.gm
            for part in node.target.split("."):
                obj = getattr(obj, part)
            return obj
        if node.op == "call_module":
            return self.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            if kwargs.get("inplace"):
                kwargs = {**kwargs, "inplace": False}
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        raise Unsupported(f"unknown graph step {node.op}")

    # -- batched patches ------------------------------------------------------------------------
    def scores(self, starts: list[tuple[int, int]], window: int, background: torch.Tensor) -> torch.Tensor:
        """Target scores of ``x`` with each (y, x)-anchored window×window square replaced by
        ``background``; one row per start."""
        with torch.inference_mode():
            logits = self._forward(starts, window, background, None)
            return self.target.score(logits, {}).float()

    def _forward(self, starts, window, background, count: WorkCount | None):
        h, w = self.x.shape[-2:]
        nh, ys = _fit([y for y, _ in starts], [min(h, y + window) for y, _ in starts], h)
        nw, xs = _fit([x for _, x in starts], [min(w, x + window) for _, x in starts], w)
        crops = []
        for (y0, x0), ry, rx in zip(starts, ys, xs):
            c = self.x[0, :, ry:ry + nh, rx:rx + nw].clone()
            hy, hx = slice(y0 - ry, min(h, y0 + window) - ry), slice(x0 - rx, min(w, x0 + window) - rx)
            c[:, hy, hx] = background[0, :, ry:ry + nh, rx:rx + nw][:, hy, hx]
            crops.append(c)
        env = {}
        batch = len(starts)
        for node in self.nodes:
            if node.op == "placeholder":
                env[node] = Region(torch.stack(crops), ys, xs)
            elif node.op == "output":
                out = fx.node.map_arg(node.args[0], lambda n: self._full(n, env, batch))
                return to_logits(out)
            elif node not in self.depends:
                env[node] = self.cache[node]
            else:
                env[node] = self._step(node, env, batch, count)
        raise Unsupported("the graph has no output")

    def _full(self, node, env, batch):
        """``node``'s value for the whole batch at full size (cached value with rectangles pasted)."""
        value = env.get(node, self.cache.get(node)) if isinstance(node, fx.Node) else node
        if not isinstance(value, Region):
            return value
        base = self.cache[node]
        full = base.expand(batch, *base.shape[1:]).clone()
        n, m = value.values.shape[-2:]
        for i, (y, x) in enumerate(zip(value.ys, value.xs)):
            full[i, :, y:y + n, x:x + m] = value.values[i]
        return full

    def _window(self, node, env, ys, xs, n, m, pad):
        """B×C×n×m crops of ``node``'s value at each (y, x) (may overhang: filled with ``pad``)."""
        value, base = env[node], self.cache[node]
        h, w = base.shape[-2:]
        src = base if not isinstance(value, torch.Tensor) or value is base else value
        overhang = min(ys) < 0 or min(xs) < 0 or max(ys) + n > h or max(xs) + m > w
        out = torch.empty((len(ys), base.shape[1], n, m), dtype=base.dtype, device=base.device,
                          memory_format=_layout(base))
        if overhang:
            out.fill_(pad)
        for i, (y, x) in enumerate(zip(ys, xs)):
            y0, y1, x0, x1 = max(y, 0), min(y + n, h), max(x, 0), min(x + m, w)
            out[i, :, y0 - y:y1 - y, x0 - x:x1 - x] = src[i if len(src) > 1 else 0, :, y0:y1, x0:x1]
        if isinstance(value, Region):
            rn, rm = value.values.shape[-2:]
            for i, (y, x, ry, rx) in enumerate(zip(ys, xs, value.ys, value.xs)):
                y0, y1, x0, x1 = max(y, ry), min(y + n, ry + rn), max(x, rx), min(x + m, rx + rm)
                if y0 < y1 and x0 < x1:
                    out[i, :, y0 - y:y1 - y, x0 - x:x1 - x] = value.values[i, :, y0 - ry:y1 - ry, x0 - rx:x1 - rx]
        return out

    def _step(self, node, env, batch, count):
        inputs = [a for a in node.all_input_nodes if a in self.depends]
        regions = [env[a] for a in inputs if isinstance(env[a], Region)]
        kind = self._kind(node)
        if regions and len(regions) == len(inputs) and kind is not None:
            out = self._local(node, env, kind, count)
            if out is not None:
                return out
        if regions and count is not None and not count.first_full:  # a whole-map op on rectangles
            cover = max(r.values.shape[-2] * r.values.shape[-1] / _area(self.cache[a])
                        for a in inputs for r in [env[a]] if isinstance(r, Region))
            count.first_full = ("!" if cover < MIN_COVER_AT_GLOBAL else "") + node.name
        args = fx.node.map_arg(node.args, lambda n: self._full(n, env, batch))
        kwargs = fx.node.map_arg(node.kwargs, lambda n: self._full(n, env, batch))
        if node.op == "call_module":
            out = self.modules[node.target](*args, **kwargs)
        elif node.op == "call_function":
            out = node.target(*args, **({**kwargs, "inplace": False} if kwargs.get("inplace") else kwargs))
        else:
            out = getattr(args[0], node.target)(*args[1:], **kwargs)
        if count is not None:
            self._tally(node, count, None)
        return out

    def _kind(self, node):
        """How ``node`` is local: "pointwise", "binary", a window-op tuple, or None."""
        base = self.cache[node]
        if not isinstance(base, torch.Tensor) or base.ndim != 4:
            return None
        if node.op == "call_module":
            module = self.modules[node.target]
            if isinstance(module, POINTWISE_MODULES):
                return "pointwise"
            return _window_op(module)
        if node.op == "call_function":
            if node.target in POINTWISE_FUNCTIONS:
                return "pointwise"
            if node.target in BINARY or (node.target is torch.cat and _cat_dim(node) == 1):
                return "binary"
        if node.op == "call_method":
            if node.target in POINTWISE_METHODS:
                return "pointwise"
            if node.target in BINARY_METHODS:
                return "binary"
        return None

    def _local(self, node, env, kind, count):
        base = self.cache[node]
        h, w = base.shape[-2:]
        inputs = [a for a in node.all_input_nodes if a in self.depends]
        if kind == "pointwise":
            src = env[inputs[0]]
            if len(inputs) != 1 or self.cache[inputs[0]].shape[-2:] != (h, w):
                return None
            rect = src
            values = self._apply(node, env, {inputs[0]: src.values})
        elif kind == "binary":
            if any(self.cache[a].shape[-2:] != (h, w) for a in inputs) or any(
                    isinstance(a, torch.Tensor) for a in node.args):  # a tensor baked into the graph
                return None
            rs = [env[a] for a in inputs]
            n0 = [r.values.shape[-2] for r in rs]
            m0 = [r.values.shape[-1] for r in rs]
            lo_y = [min(r.ys[i] for r in rs) for i in range(len(rs[0].ys))]
            hi_y = [max(r.ys[i] + n for r, n in zip(rs, n0)) for i in range(len(rs[0].ys))]
            lo_x = [min(r.xs[i] for r in rs) for i in range(len(rs[0].xs))]
            hi_x = [max(r.xs[i] + m for r, m in zip(rs, m0)) for i in range(len(rs[0].xs))]
            n, ys = _fit(lo_y, hi_y, h)
            m, xs = _fit(lo_x, hi_x, w)
            for a in node.all_input_nodes:  # a spatial constant would need cropping too
                if a not in inputs and isinstance(self.cache[a], torch.Tensor) and self.cache[a].ndim == 4:
                    return None
            crops = {a: self._window(a, env, ys, xs, n, m, 0.0) for a in inputs}
            values = self._apply(node, env, crops)
            rect = Region(values, ys, xs)
        else:
            (kh, kw), (sh, sw), (ph, pw), (dh, dw), pad, fn = kind
            src = env[inputs[0]]
            rn, rm = src.values.shape[-2:]
            ry = [_out_range(y, rn, kh, sh, ph, dh, h) for y in src.ys]
            rx = [_out_range(x, rm, kw, sw, pw, dw, w) for x in src.xs]
            n, ys = _fit([a for a, _ in ry], [b for _, b in ry], h)
            m, xs = _fit([a for a, _ in rx], [b for _, b in rx], w)
            win = self._window(inputs[0], env, [y * sh - ph for y in ys], [x * sw - pw for x in xs],
                               (n - 1) * sh + (kh - 1) * dh + 1, (m - 1) * sw + (kw - 1) * dw + 1, pad)
            values = fn(win)
            rect = Region(values, ys, xs)
        out = Region(values, rect.ys, rect.xs)
        if count is not None:
            self._tally(node, count, out)
        if values.shape[-2] * values.shape[-1] >= FULL_FRACTION * h * w:
            if count is not None and not count.first_full:
                count.first_full = node.name
            env[node] = out
            return self._full(node, env, len(out.ys))
        return out

    def _apply(self, node, env, crops: dict):
        """Run ``node``'s own op on crops of its image-dependent inputs."""
        def value(n):
            return crops[n] if n in crops else self.cache[n]
        args = fx.node.map_arg(node.args, value)
        kwargs = fx.node.map_arg(node.kwargs, value)
        if node.op == "call_module":
            return self.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **({**kwargs, "inplace": False} if kwargs.get("inplace") else kwargs))
        return getattr(args[0], node.target)(*args[1:], **kwargs)

    def _tally(self, node, count: WorkCount, out: Region | None):
        base = self.cache[node]
        if not isinstance(base, torch.Tensor) or base.ndim != 4:
            return
        full = base.shape[-2] * base.shape[-1]
        done = full if out is None else out.values.shape[-2] * out.values.shape[-1]
        count.pixels[node.name] = (done, full)
        module = self.modules.get(node.target) if node.op == "call_module" else None
        if isinstance(module, nn.Conv2d):
            per_pixel = module.out_channels * module.in_channels // module.groups * math.prod(module.kernel_size)
            count.macs[node.name] = (done * per_pixel, full * per_pixel)


def _layout(t: torch.Tensor):
    """channels_last for float32 maps (about 13% faster convolutions on CPU, and a crop copies whole
    pixel rows); other dtypes as they are (float64 channels_last convolutions are very slow)."""
    return torch.channels_last if t.ndim == 4 and t.dtype == torch.float32 else torch.contiguous_format


def _area(t) -> int:
    return t.shape[-2] * t.shape[-1]


def _cat_dim(node) -> int:
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    return dim + 4 if isinstance(dim, int) and dim < 0 else dim


def plan(bundle, x: torch.Tensor, target, window: int, mode: str):
    """(engine or None, info) for occlusion: the incremental engine when ``mode`` is "auto" and the
    model allows, else None and the reason in words."""
    if mode == "off":
        return None, {"path": "plain", "path_reason": "incremental inference switched off"}
    if x.device.type != "cpu":
        return None, {"path": "plain", "path_reason": "on a GPU the plain batched forward is used: cropping "
                      "each patch's region launches many small kernels (not yet measured to pay off)"}
    try:
        engine = IncrementalOcclusion(bundle, x, target, window)
    except Unsupported as exc:
        return None, {"path": "plain", "path_reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 (a model this engine misreads still gets its map, plainly)
        return None, {"path": "plain", "path_reason": f"the incremental engine failed ({type(exc).__name__}: {exc})"}
    return engine, {"path": "incremental", "work_share": round(engine.count.mac_fraction, 3),
                    "plain_from": engine.count.first_full}
