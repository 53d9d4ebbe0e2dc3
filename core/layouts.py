"""Which axes of a layer's output are channels and which are space, found rather than guessed.

A layer's output is N×C×H×W (convolutions), N×H×W×C (Swin stages, timm's NHWC blocks) or N×T×C
tokens (ViT, DeiT: a few *prefix* tokens — class, distillation, register — then an H×W grid of
patch tokens). The layout of every layer comes from the load-time dry run (``core.layers``) and
the model's own configuration, never from the model's name, so a model loaded from a file gets
the same axes as the same model loaded by name:

1. the shape: a spatial grid must have the input's aspect ratio (a 7×7 grid of a 224×224 input);
   the reading where only one assignment of axes fits wins;
2. the configuration: ``num_prefix_tokens`` / class, distillation and register tokens and the
   patch grid (timm, torchvision ViT), ``output_fmt == "NHWC"`` (timm) or a torchvision Swin;
3. when the shape fits both N×C×H×W and N×H×W×C (C equal to a side), the dry run's constant input:
   a convolutional feature map of a constant image is constant over space but not over channels,
   so the axis that varies most is the channel axis.

CAMs (``core.methods.cam.to_grid``), unit targets (``core.targets``) and everything built on
them read the layout; pytorch-grad-cam's ``reshape_transform`` is the manual equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

KINDS = ("nchw", "nhwc", "tokens", "flat")
MAX_PREFIX = 16  # class + distillation + up to 14 register tokens


@dataclass(frozen=True)
class Layout:
    """How a layer's output is laid out: ``kind`` (one of ``KINDS``), the ``grid`` (h, w) seen at
    the dry run, the ``prefix`` tokens before the grid (tokens only) and where the answer came from
    (``source``: "shape", "config" or "constant input")."""

    kind: str
    grid: tuple[int, int] | None = None
    prefix: int = 0
    source: str = "shape"

    @property
    def spatial(self) -> bool:
        """A grid with more than one position (a CAM can target it)."""
        return self.kind != "flat" and self.grid is not None and self.grid[0] * self.grid[1] > 1

    @property
    def channel_axis(self) -> int:
        return {"nchw": 1, "nhwc": 3, "tokens": 2}.get(self.kind, 1)

    def describe(self) -> str:
        if self.kind == "tokens":
            h, w = self.grid or ("?", "?")
            return f"tokens: {self.prefix} prefix + {h}×{w} grid"
        return {"nchw": "N×C×H×W", "nhwc": "N×H×W×C", "flat": "no spatial grid"}[self.kind]

    def to_grid(self, t: torch.Tensor, layer: str = "") -> torch.Tensor:
        """``t`` (this layout, any batch size) as N×C×h×w; the grid is re-read from ``t``'s own
        shape, so an input of another size works too."""
        from .capture import LayerError

        if self.kind == "nchw" and t.ndim == 4:
            return t
        if self.kind == "nhwc" and t.ndim == 4:
            return t.permute(0, 3, 1, 2)
        if self.kind == "tokens" and t.ndim == 3:
            n, tokens, c = t.shape
            grid = self.grid if self.grid and self.grid[0] * self.grid[1] == tokens - self.prefix else \
                token_grid(tokens - self.prefix, self.grid)
            if grid is None:
                raise LayerError(f"layer {layer!r} has {tokens} tokens; after {self.prefix} prefix token(s) they "
                                 "do not form a grid")
            return t[:, self.prefix:].reshape(n, grid[0], grid[1], c).permute(0, 3, 1, 2)
        raise LayerError(f"layer {layer!r} outputs shape {tuple(t.shape)}; a CAM needs a spatial or token layer")


def _fits(gh: int, gw: int, input_hw: tuple[int, int]) -> bool:
    """Could (gh, gw) be a spatial grid of an input of ``input_hw``: one stride for both axes,
    up to the rounding of padding (± 1 cell)."""
    h, w = input_hw
    if gh < 1 or gw < 1 or gh > h or gw > w:
        return False
    return abs(gw - w * gh / h) <= 1 and abs(gh - h * gw / w) <= 1


def token_grid(count: int, hint: tuple[int, int] | None = None,
               input_hw: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """(h, w) with h·w = ``count`` in the input's aspect ratio (square without an input size);
    ``hint`` (the patch grid from the configuration) wins when it fits."""
    if count < 1:
        return None
    if hint is not None and hint[0] * hint[1] == count:
        return tuple(hint)
    h, w = input_hw or (1, 1)
    for gh in range(1, count + 1):
        if count % gh == 0:
            gw = count // gh
            if (input_hw is None and gh == gw) or (input_hw is not None and _fits(gh, gw, input_hw)):
                return gh, gw
    return None


def infer_layout(shape: tuple[int, ...], input_hw: tuple[int, int] | None = None, *,
                 hints: "Hints | None" = None, spread: tuple[float, float] | None = None) -> Layout:
    """The layout of an output of ``shape`` for an input of ``input_hw`` (``None``: square).

    ``hints``: the model's configuration; ``spread``: for a 4-D output of a constant input, the
    variance over axis 1 and over axis 3 of the per-index means (the channel axis varies most)."""
    hints = hints or Hints()
    if len(shape) == 4:
        _, a, b, c = shape
        if input_hw is None:  # no input size: only squareness tells
            nchw, nhwc = b == c, a == b
        else:
            nchw, nhwc = _fits(b, c, input_hw), _fits(a, b, input_hw)
        if nhwc and not nchw:
            return Layout("nhwc", (a, b))
        if nchw and not nhwc:
            return Layout("nchw", (b, c))
        if nchw and nhwc:
            if spread is not None and max(spread) > 10 * min(spread):  # decisive: one axis is constant
                kind = "nhwc" if spread[1] > spread[0] else "nchw"
                source = "constant input"
            elif hints.nhwc is not None:
                kind, source = ("nhwc" if hints.nhwc else "nchw"), "config"
            else:
                kind = "nhwc" if spread is not None and spread[1] > spread[0] else "nchw"
                source = "constant input" if spread is not None else "shape"
            return Layout(kind, (a, b) if kind == "nhwc" else (b, c), source=source)
        return Layout("nchw", (b, c))  # neither fits the input's shape: convolutions' convention
    if len(shape) == 3:
        tokens = shape[1]
        if hints.prefix is not None and 0 <= hints.prefix < tokens:
            grid = token_grid(tokens - hints.prefix, hints.grid, input_hw)
            if grid is not None:
                return Layout("tokens", grid, hints.prefix, "config")
        for prefix in range(0, min(MAX_PREFIX, tokens - 1) + 1):
            grid = token_grid(tokens - prefix, hints.grid, input_hw)
            if grid is not None:
                return Layout("tokens", grid, prefix)
    return Layout("flat")


@dataclass(frozen=True)
class Hints:
    """What a model's configuration says: ``prefix`` tokens, the patch ``grid`` and whether its
    4-D blocks are N×H×W×C (``nhwc``); ``None`` where it says nothing."""

    prefix: int | None = None
    grid: tuple[int, int] | None = None
    nhwc: bool | None = None


def config_hints(net: nn.Module) -> Hints:
    """Read the configuration of timm and torchvision transformers (and anything that follows
    their attribute names: ``num_prefix_tokens``, ``cls_token``/``class_token``, ``dist_token``,
    ``reg_token``, ``patch_embed.grid_size``, ``output_fmt``)."""
    if isinstance(net, torch.jit.ScriptModule):
        return Hints()
    prefix = getattr(net, "num_prefix_tokens", None)
    if not isinstance(prefix, int):
        count, found = 0, False
        for name in ("cls_token", "class_token", "dist_token"):
            token = getattr(net, name, None)
            if isinstance(token, torch.Tensor):
                count, found = count + 1, True
        reg = getattr(net, "reg_token", None)
        if isinstance(reg, torch.Tensor):
            count, found = count + reg.shape[1], True
        prefix = count if found else None
    grid = getattr(getattr(net, "patch_embed", None), "grid_size", None)
    if grid is None and hasattr(net, "image_size") and hasattr(net, "patch_size"):  # torchvision ViT
        size = net.image_size if isinstance(net.image_size, (tuple, list)) else (net.image_size,) * 2
        grid = (size[0] // net.patch_size, size[1] // net.patch_size)
    fmt = getattr(net, "output_fmt", None)
    nhwc = None
    if fmt is not None:
        nhwc = str(getattr(fmt, "value", fmt)).upper() == "NHWC"
    elif type(net).__name__ == "SwinTransformer" and type(net).__module__.startswith("torchvision"):
        nhwc = True
    return Hints(prefix=prefix, grid=tuple(int(g) for g in grid) if grid is not None else None, nhwc=nhwc)


def axis_spread(t: torch.Tensor) -> tuple[float, float] | None:
    """For a 4-D output: (variance over axis 1, over axis 3) of the means over the other axes."""
    if t.ndim != 4 or t.shape[1] < 2 or t.shape[3] < 2:
        return None
    t = t.detach().float()
    return float(t.mean((0, 2, 3)).var()), float(t.mean((0, 1, 2)).var())


__all__ = ["Layout", "Hints", "infer_layout", "config_hints", "axis_spread", "token_grid", "KINDS"]
