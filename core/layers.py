"""The layer tree of a model: names, types, output shapes and layouts (``core.layouts``: channels
first, channels last or tokens, found from the dry run and the model's configuration), and a
default target layer per family."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from .capture import LayerError, get_layer, split_call
from .layouts import Layout, axis_spread, config_hints, infer_layout

# Pass-through or pooling modules are never a sensible default target.
_SKIP = {"AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "MaxPool2d", "Dropout", "Dropout2d", "Identity"}


@dataclass(frozen=True)
class LayerInfo:
    """One module: dotted ``name`` ("" is the model), type, output shape, tree depth."""

    name: str
    type: str
    shape: tuple[int, ...] | None
    depth: int
    params: int
    leaf: bool
    order: int  # position in execution order (-1: did not run)
    calls: int = 0  # how often the module ran in one forward (> 1: a reused block; hooks see its last call)
    layout: Layout | None = None  # channels first / last / tokens (None: did not run or not a tensor)

    @property
    def spatial(self) -> bool:
        """Output has channels and a real spatial grid, N×C×H×W or N×H×W×C (a CAM can target it)."""
        if self.layout is not None:
            return self.layout.kind in ("nchw", "nhwc") and self.layout.spatial
        return self.shape is not None and len(self.shape) == 4 and self.shape[2] * self.shape[3] > 1

    @property
    def tokens(self) -> bool:
        """Output is N×T×C tokens that form a grid (after any prefix tokens)."""
        return self.layout is not None and self.layout.kind == "tokens"


def _shape(output) -> tuple[int, ...] | None:
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return tuple(output[0].shape)
    return None


def layer_table(bundle) -> list[LayerInfo]:
    """Every named module in tree order, with output shapes from one dry run (batch 1).

    TorchScript modules cannot be hooked: their shapes are ``None``.
    """
    net = bundle.net
    shapes: dict[str, tuple | None] = {}
    spreads: dict[str, tuple | None] = {}
    order: dict[str, int] = {}
    calls: dict[str, int] = {}
    handles = []
    if not isinstance(net, torch.jit.ScriptModule):
        def make_hook(name):
            def hook(module, inputs, output):
                shapes[name] = _shape(output)
                first = output[0] if isinstance(output, (tuple, list)) and output else output
                spreads[name] = axis_spread(first) if isinstance(first, torch.Tensor) else None
                calls[name] = calls.get(name, 0) + 1
                order[name] = sum(calls.values()) - 1  # position of the latest call
            return hook

        for name, module in net.named_modules():
            if name:
                handles.append(module.register_forward_hook(make_hook(name)))
    try:
        h, w = bundle.preprocess.crop
        x = torch.zeros(1, bundle.preprocess.channels, h, w, device=bundle.device)
        keep = getattr(bundle, "keep_buffers", contextlib.nullcontext)  # never move running statistics
        with torch.inference_mode(), keep():
            bundle.net(x)
    finally:
        for handle in handles:
            handle.remove()
    hints = config_hints(net)
    table = []
    for name, module in net.named_modules():
        if not name:
            continue
        shape = shapes.get(name)
        layout = infer_layout(shape, (h, w), hints=hints, spread=spreads.get(name)) if shape else None
        table.append(LayerInfo(
            name=name, type=type(module).__name__.replace("RecursiveScriptModule", "script"),
            shape=shape, depth=name.count("."),
            params=sum(p.numel() for p in module.parameters(recurse=True)),
            leaf=not any(True for _ in module.children()), order=order.get(name, -1), calls=calls.get(name, 0),
            layout=layout))
    _remember(bundle, table)
    return table


def _remember(bundle, table: list[LayerInfo]) -> None:
    """Keep the layouts on the bundle, keyed by the input they were found with."""
    try:
        bundle._layouts = (_input_key(bundle), {i.name: i.layout for i in table})
    except AttributeError:  # a read-only stand-in
        pass


def _input_key(bundle) -> tuple:
    pre = getattr(bundle, "preprocess", None)
    return (id(bundle.net), tuple(pre.crop), pre.channels) if pre is not None else (id(bundle.net),)


def layout_of(bundle, layer: str, output: torch.Tensor | None = None) -> Layout | None:
    """The layout of ``layer`` (``LAYER#K`` too) from the bundle's dry run, run once and kept on the
    bundle; ``None`` when the layer did not run. With ``output``, a layer whose shape there differs
    from the dry run's (another input size) keeps its kind and prefix (``Layout.to_grid`` re-reads
    the grid), and a layout-less bundle gets one from ``output``'s shape."""
    name = split_call(layer)[0]
    layouts = None
    if hasattr(bundle, "net") and hasattr(bundle, "preprocess") and not isinstance(bundle.net, torch.jit.ScriptModule):
        cached = getattr(bundle, "_layouts", None)
        if cached is None or cached[0] != _input_key(bundle):
            try:
                layer_table(bundle)
            except Exception:  # noqa: BLE001 - the described input does not run: read shapes instead
                _remember(bundle, [])
            cached = getattr(bundle, "_layouts", None)
        layouts = cached[1] if cached else None
    found = layouts.get(name) if layouts else None
    if found is None and output is not None:
        hw = tuple(bundle.preprocess.crop) if hasattr(bundle, "preprocess") else None
        return infer_layout(tuple(output.shape), hw)
    return found


def default_layer(bundle, table: list[LayerInfo] | None = None) -> str:
    """The last spatial block: the last-run module with an N×C×H×W output (H·W > 1).

    Forward hooks fire when a module finishes, so a block fires after its children and the
    outermost block wins (``layer4`` for ResNets, ``features`` for VGG/DenseNet/MobileNet).
    Token models (ViT, N×T×C) fall back to the last-run module with a 3-D output.
    """
    table = table if table is not None else layer_table(bundle)
    ran = sorted((i for i in table if i.order >= 0 and i.type not in _SKIP), key=lambda i: i.order)
    classes = len(bundle.labels) if bundle.labels else None  # skip class-score maps (SqueezeNet)
    spatial = [i for i in ran if i.spatial and i.shape[i.layout.channel_axis if i.layout else 1] != classes]
    tokens = [i for i in ran if i.tokens or (i.layout is None and i.shape is not None and len(i.shape) == 3)]
    if tokens and (not spatial or tokens[-1].order > spatial[-1].order):
        # Token model (ViT, DeiT): the last block's pre-attention norm (timm ``blocks[-1].norm1``,
        # torchvision ``ln_1``, Hugging Face ``layernorm_before``) still mixes every token's gradient
        # (the final norm only feeds the class token to the head).
        pre_attention = [i for i in tokens if i.name.endswith(("ln_1", "norm1", "layernorm_before"))]
        return (pre_attention or tokens)[-1].name
    if spatial:
        # The last block (stage) with the final grid: ResNet's layer4, a Swin's last stage (not the
        # norm or channels-first permute after it), an EfficientNet's last conv block.
        blocks = [i for i in spatial if not i.leaf and _grid(i) == _grid(spatial[-1])]
        return (blocks or spatial)[-1].name
    raise LayerError("the model has no layer with a spatial or token output to target")


def _grid(info: LayerInfo):
    return info.layout.grid if info.layout is not None else info.shape[2:]


def layer_before(table: list[LayerInfo], unit_layer: str) -> str | None:
    """The CAM layer for a unit of ``unit_layer``: the last candidate block that has finished
    before the unit's layer does and does not contain it. A layer that contains the unit or runs
    after it receives no gradient from the unit (its Grad-CAM would be zero everywhere)."""
    order = {i.name: i.order for i in table}
    if order.get(unit_layer, -1) < 0:
        return None
    before = [name for name in candidate_layers(table)
              if order[name] < order[unit_layer] and not unit_layer.startswith(name + ".")]
    return before[-1] if before else None


def candidate_layers(table: list[LayerInfo]) -> list[str]:
    """Layers a CAM may target and a GUI offers first: spatial or token outputs of blocks
    (non-leaf modules) or top-level modules, skipping pooling and pass-through modules."""
    def usable(i: LayerInfo) -> bool:
        return i.order >= 0 and i.type not in _SKIP and i.shape is not None and (
            i.spatial or i.tokens or (i.layout is None and len(i.shape) == 3))
    return [i.name for i in table if usable(i) and (not i.leaf or i.depth == 0)]


__all__ = ["LayerInfo", "layer_table", "layout_of", "default_layer", "layer_before", "candidate_layers", "get_layer"]
