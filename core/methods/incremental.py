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
Patches are any rectangles (the sliding squares of ``occlusion``, the dragged box of
``core.diagnose.occlude``); a dry walk over the same graph counts a patch's work before running it.
"""

from __future__ import annotations

import math

import torch
from torch import fx, nn

from ..models.adapters import to_logits
from .incremental_layers import (BINARY, BINARY_METHODS, OUT_OF_PLACE, POINTWISE_FUNCTIONS, POINTWISE_METHODS,
                                 POINTWISE_MODULES, WHOLE, Region, WorkCount, area, cat_dim, fit, layout, out_range,
                                 window_op)

FULL_FRACTION = 0.5  # a changed rectangle covering this share of its map is recomputed whole
MIN_COVER_AT_GLOBAL = 0.5  # a whole-map op reached before the rectangles cover this: named as the cause
MAX_WORK = 0.85  # incremental convolution work above this share of the full work: not worth it


class Unsupported(Exception):
    """The model cannot run incrementally; the message says why, in words."""


class IncrementalOcclusion:
    """Logits or target scores of copies of ``x`` (1×C×H×W) with rectangles hidden, from cached
    activations (Krypton): the squares of ``occlusion``, or any box (drag-to-occlude).

    Raises ``Unsupported`` with a reason when the model's graph cannot be followed or when the
    rectangles would not save work; the caller then runs the plain forward.
    """

    def __init__(self, bundle, x: torch.Tensor, target=None, probe_window: int | None = None,
                 max_work: float | None = None):
        """Traces the model and runs the full forward once. With ``probe_window``, also runs one
        centred square patch (``count``) and raises ``Unsupported`` if it saves too little."""
        if getattr(target, "layers", ()):
            raise Unsupported("the target is a unit inside the network, read by hooks")
        if bundle.mutates_buffers or bundle.scripted:
            raise Unsupported("the model changes its buffers or is TorchScript")
        self.gm = trace(bundle.net)
        if layout(x) == torch.channels_last:  # weights as the activations: no reordering per call
            self.gm.to(memory_format=torch.channels_last)
        self.bundle, self.target, self.x = bundle, target, x
        self.modules = dict(self.gm.named_modules())
        self.nodes = list(self.gm.graph.nodes)
        with torch.inference_mode():
            self.cache = self._run_full(x)
        self.inputs = {n: [a for a in n.all_input_nodes if a in self.depends] for n in self.depends}
        self.kinds = {n: self._kind(n) for n in self.depends}
        self.count = WorkCount()
        if probe_window is None:
            return
        h, w = x.shape[-2:]
        y, xx = max(0, (h - probe_window) // 2), max(0, (w - probe_window) // 2)
        with torch.inference_mode():
            self._forward([(y, xx, min(h, y + probe_window), min(w, xx + probe_window))],
                          torch.zeros_like(x), self.count)
        why = too_costly(self.count, max_work)
        if why:
            raise Unsupported(why)
        self.count.first_full = self.count.first_full.lstrip("!")

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
                env[node] = env[node].clone(memory_format=layout(env[node]))
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
        return self._run(node, lambda n: env[n])

    def _run(self, node, value_of):
        """``node``'s op on its arguments mapped by ``value_of``, never in place (cached values stay)."""
        args = fx.node.map_arg(node.args, value_of)
        kwargs = fx.node.map_arg(node.kwargs, value_of)
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
            return OUT_OF_PLACE.get(node.target, node.target)(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        raise Unsupported(f"unknown graph step {node.op}")

    # -- batched patches ------------------------------------------------------------------------
    def scores(self, starts: list[tuple[int, int]], window: int, background: torch.Tensor) -> torch.Tensor:
        """Target scores of ``x`` with each (y, x)-anchored window×window square replaced by
        ``background``; one row per start."""
        h, w = self.x.shape[-2:]
        boxes = [(y, x, min(h, y + window), min(w, x + window)) for y, x in starts]
        with torch.inference_mode():
            return self.target.score(self.logits(boxes, background), {}).float()

    def logits(self, boxes: list[tuple[int, int, int, int]], background: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` with rows y0:y1, columns x0:x1 of each (y0, x0, y1, x1) box (inside the
        image) replaced by ``background`` (1×C×H×W); one row per box."""
        with torch.inference_mode():
            return self._forward(boxes, background, None)

    def estimate(self, boxes: list[tuple[int, int, int, int]]) -> WorkCount:
        """The work ``logits(boxes)`` would do, counted by the same walk over geometry only (no
        arithmetic; well under a millisecond)."""
        count = WorkCount()
        self._forward(boxes, None, count, dry=True)
        return count

    def _forward(self, boxes, background, count: WorkCount | None, dry: bool = False):
        h, w = self.x.shape[-2:]
        nh, ys = fit([b[0] for b in boxes], [b[2] for b in boxes], h)
        nw, xs = fit([b[1] for b in boxes], [b[3] for b in boxes], w)
        crops = None
        if not dry:
            crops = self.x.new_empty((len(boxes), self.x.shape[1], nh, nw))
            for c, (y0, x0, y1, x1), ry, rx in zip(crops, boxes, ys, xs):
                c.copy_(self.x[0, :, ry:ry + nh, rx:rx + nw])
                c[:, y0 - ry:y1 - ry, x0 - rx:x1 - rx] = background[0, :, y0:y1, x0:x1]
        env = {}
        batch = len(boxes)
        for node in self.nodes:
            if node.op == "placeholder":
                env[node] = Region(crops, ys, xs, nh, nw)
            elif node.op == "output":
                if dry:
                    return None
                out = fx.node.map_arg(node.args[0], lambda n: self._full(n, env, batch))
                return to_logits(out)
            elif node not in self.depends:
                env[node] = self.cache[node]
            else:
                env[node] = self._step(node, env, batch, count, dry)
        raise Unsupported("the graph has no output")

    def _full(self, node, env, batch):
        """``node``'s value for the whole batch at full size (cached value with rectangles pasted)."""
        value = env.get(node, self.cache.get(node)) if isinstance(node, fx.Node) else node
        if not isinstance(value, Region):
            return value
        base = self.cache[node]
        full = base.expand(batch, *base.shape[1:]).clone()
        n, m = value.n, value.m
        for i, (y, x) in enumerate(zip(value.ys, value.xs)):
            full[i, :, y:y + n, x:x + m] = value.values[i]
        return full

    def _window(self, node, env, ys, xs, n, m, pad):
        """B×C×n×m crops of ``node``'s value at each (y, x) (may overhang: filled with ``pad``)."""
        value, base = env[node], self.cache[node]
        if isinstance(value, Region):  # inside the changed rectangles, at one offset for all: a view
            offsets = {(y - ry, x - rx) for y, x, ry, rx in zip(ys, xs, value.ys, value.xs)}
            if len(offsets) == 1:
                (dy, dx), = offsets
                if 0 <= dy and dy + n <= value.n and 0 <= dx and dx + m <= value.m:
                    return value.values[:, :, dy:dy + n, dx:dx + m]
        h, w = base.shape[-2:]
        src = base if not isinstance(value, torch.Tensor) or value is base else value
        overhang = min(ys) < 0 or min(xs) < 0 or max(ys) + n > h or max(xs) + m > w
        out = torch.empty((len(ys), base.shape[1], n, m), dtype=base.dtype, device=base.device,
                          memory_format=layout(base))
        if overhang:
            out.fill_(pad)
        for i, (y, x) in enumerate(zip(ys, xs)):
            y0, y1, x0, x1 = max(y, 0), min(y + n, h), max(x, 0), min(x + m, w)
            out[i, :, y0 - y:y1 - y, x0 - x:x1 - x] = src[i if len(src) > 1 else 0, :, y0:y1, x0:x1]
        if isinstance(value, Region):
            rn, rm = value.n, value.m
            for i, (y, x, ry, rx) in enumerate(zip(ys, xs, value.ys, value.xs)):
                y0, y1, x0, x1 = max(y, ry), min(y + n, ry + rn), max(x, rx), min(x + m, rx + rm)
                if y0 < y1 and x0 < x1:
                    out[i, :, y0 - y:y1 - y, x0 - x:x1 - x] = value.values[i, :, y0 - ry:y1 - ry, x0 - rx:x1 - rx]
        return out

    def _step(self, node, env, batch, count, dry):
        inputs = self.inputs[node]
        regions = [env[a] for a in inputs if isinstance(env[a], Region)]
        kind = self.kinds[node]
        if regions and len(regions) == len(inputs) and kind is not None:
            out = self._local(node, env, kind, count, dry)
            if out is not None:
                return out
        if regions and count is not None and not count.first_full:  # a whole-map op on rectangles
            cover = max(r.n * r.m / area(self.cache[a]) for a in inputs for r in [env[a]] if isinstance(r, Region))
            count.first_full = ("!" if cover < MIN_COVER_AT_GLOBAL else "") + node.name
        if count is not None:
            self._tally(node, count, None)
        if dry:
            return WHOLE
        return self._run(node, lambda n: self._full(n, env, batch))

    def _kind(self, node):
        """How ``node`` is local: "pointwise", "binary", a window-op tuple, or None."""
        base = self.cache[node]
        if not isinstance(base, torch.Tensor) or base.ndim != 4:
            return None
        if node.op == "call_module":
            module = self.modules[node.target]
            if isinstance(module, POINTWISE_MODULES):
                return "pointwise"
            return window_op(module)
        if node.op == "call_function":
            if node.target in POINTWISE_FUNCTIONS:
                return "pointwise"
            if node.target in BINARY or (node.target is torch.cat and cat_dim(node) == 1):
                return "binary"
        if node.op == "call_method":
            if node.target in POINTWISE_METHODS:
                return "pointwise"
            if node.target in BINARY_METHODS:
                return "binary"
        return None

    def _local(self, node, env, kind, count, dry):
        base = self.cache[node]
        h, w = base.shape[-2:]
        inputs = self.inputs[node]
        if kind == "pointwise":
            src = env[inputs[0]]
            if len(inputs) != 1 or self.cache[inputs[0]].shape[-2:] != (h, w):
                return None
            n, m, ys, xs = src.n, src.m, src.ys, src.xs
            values = None if dry else self._apply(node, env, {inputs[0]: src.values})
        elif kind == "binary":
            if any(self.cache[a].shape[-2:] != (h, w) for a in inputs) or any(
                    isinstance(a, torch.Tensor) for a in node.args):  # a tensor baked into the graph
                return None
            rs = [env[a] for a in inputs]
            n0, m0 = [r.n for r in rs], [r.m for r in rs]
            lo_y = [min(r.ys[i] for r in rs) for i in range(len(rs[0].ys))]
            hi_y = [max(r.ys[i] + n for r, n in zip(rs, n0)) for i in range(len(rs[0].ys))]
            lo_x = [min(r.xs[i] for r in rs) for i in range(len(rs[0].xs))]
            hi_x = [max(r.xs[i] + m for r, m in zip(rs, m0)) for i in range(len(rs[0].xs))]
            n, ys = fit(lo_y, hi_y, h)
            m, xs = fit(lo_x, hi_x, w)
            for a in node.all_input_nodes:  # a spatial constant would need cropping too
                if a not in inputs and isinstance(self.cache[a], torch.Tensor) and self.cache[a].ndim == 4:
                    return None
            values = None if dry else self._apply(node, env, {a: self._window(a, env, ys, xs, n, m, 0.0)
                                                              for a in inputs})
        else:
            (kh, kw), (sh, sw), (ph, pw), (dh, dw), pad, fn = kind
            src = env[inputs[0]]
            rn, rm = src.n, src.m
            ry = [out_range(y, rn, kh, sh, ph, dh, h) for y in src.ys]
            rx = [out_range(x, rm, kw, sw, pw, dw, w) for x in src.xs]
            n, ys = fit([a for a, _ in ry], [b for _, b in ry], h)
            m, xs = fit([a for a, _ in rx], [b for _, b in rx], w)
            values = None if dry else fn(self._window(
                inputs[0], env, [y * sh - ph for y in ys], [x * sw - pw for x in xs],
                (n - 1) * sh + (kh - 1) * dh + 1, (m - 1) * sw + (kw - 1) * dw + 1, pad))
        out = Region(values, ys, xs, n, m)
        if count is not None:
            self._tally(node, count, out)
        if n * m >= FULL_FRACTION * h * w:
            if count is not None and not count.first_full:
                count.first_full = node.name
            if dry:
                return WHOLE
            env[node] = out
            return self._full(node, env, len(ys))
        return out

    def _apply(self, node, env, crops: dict):
        """Run ``node``'s own op on crops of its image-dependent inputs."""
        return self._run(node, lambda n: crops[n] if n in crops else self.cache[n])

    def _tally(self, node, count: WorkCount, out: Region | None):
        base = self.cache[node]
        if not isinstance(base, torch.Tensor) or base.ndim != 4:
            return
        full = base.shape[-2] * base.shape[-1]
        done = full if out is None else out.n * out.m
        count.pixels[node.name] = (done, full)
        module = self.modules.get(node.target) if node.op == "call_module" else None
        if isinstance(module, nn.Conv2d):
            per_pixel = module.out_channels * module.in_channels // module.groups * math.prod(module.kernel_size)
            count.macs[node.name] = (done * per_pixel, full * per_pixel)


def trace(net: nn.Module) -> fx.GraphModule:
    """``net``'s torch.fx graph with each BatchNorm folded into its convolution (the same twin as
    ``ModelBundle.fast_logits``), in-place ops switched off: they would overwrite cached activations."""
    try:
        from torch.fx.experimental.optimization import fuse

        gm = fuse(net, inplace=False).eval()
    except Exception as exc:  # noqa: BLE001 (any tracing failure means: not followable)
        raise Unsupported(f"the model's graph cannot be traced ({type(exc).__name__})") from exc
    for m in gm.modules():
        if getattr(m, "inplace", False):
            m.inplace = False
    return gm


def too_costly(count: WorkCount, max_work: float | None = None) -> str | None:
    """Why recomputing only the changed regions is not worth it (share of the convolution work
    above ``max_work``, default ``MAX_WORK``), in words; None when it is."""
    first, share = count.first_full, count.mac_fraction
    if share <= (MAX_WORK if max_work is None else max_work):
        return None
    why = (f"layer {first[1:]} mixes the whole map before the patch's changes cover it, so "
           if first.startswith("!") else "")
    return f"{why}recomputing only the changed regions would save little ({100 * share:.0f}% of the plain work)"


def plan(bundle, x: torch.Tensor, target, window: int | None, mode: str):
    """(engine or None, info) for occlusion: the incremental engine when ``mode`` is "auto" and the
    model allows, else None and the reason in words. ``window``: the square patch whose saving is
    checked now; None (drag-to-occlude) checks each patch as it comes (``estimate``)."""
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
