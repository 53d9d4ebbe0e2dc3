"""One forward + backward pass that records activations and gradients of chosen layers.

Forward hooks keep each layer's output (the tensor autograd differentiates against) and
hand a clone downstream, so in-place operations after the layer (``ReLU(inplace=True)``,
``out += identity``) cannot overwrite what was recorded. Gradients come from a single
``torch.autograd.grad`` to exactly the tensors needed: backward stops at the earliest
requested layer unless the input gradient is asked for. Hooks are removed on every exit.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn

from .targets import Target


class LayerError(ValueError):
    """A named layer does not exist, did not run, or returned something unusable."""


def split_call(name: str) -> tuple[str, int | None]:
    """``"block#2"`` → ("block", 2): the second call of a module that runs several times in one
    forward; a plain name → (name, None), meaning its last call."""
    module, sep, call = name.rpartition("#")
    if not sep:
        return name, None
    if not call.isdigit() or int(call) < 1 or not module:
        raise LayerError(f"{name!r}: a layer call is LAYER#K with K = 1, 2, ...")
    return module, int(call)


def get_layer(net: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (``LAYER#K``: the module itself) or a ``LayerError``
    suggesting close names."""
    name = split_call(name)[0]
    try:
        return net.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in net.named_modules() if n]
        close = [n for n in names if name.split(".")[-1] in n][:5] or names[-5:]
        raise LayerError(f"no layer named {name!r}; e.g. {', '.join(close)}") from None


class Recording(dict):
    """``{layer: output}`` of one forward, with ``calls[layer]``: how often the module ran."""

    def __init__(self):
        super().__init__()
        self.calls: dict[str, int] = {}
        self.layouts: dict = {}  # layer -> core.layouts.Layout, where the bundle's dry run found one


@contextlib.contextmanager
def hooked(net: nn.Module, names: Iterable[str]):
    """Context in which ``store[name]`` receives each named layer's output during forward (the
    first element of a layer that returns a tuple, as Hugging Face layers do).

    A module that runs several times in one forward (a reused block) is recorded at its last
    call, or at call K when named ``LAYER#K``; ``store.calls`` counts the calls."""
    store = Recording()
    handles = []

    def make_hook(name, call):
        def hook(module, inputs, output):
            rest = None
            if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
                output, rest = output[0], output  # Hugging Face-style layers return (hidden_states, ...)
            if not isinstance(output, torch.Tensor):
                raise LayerError(f"layer {name!r} returns {type(output).__name__}, not a tensor")
            store.calls[name] = store.calls.get(name, 0) + 1
            if call is None or store.calls[name] == call:
                store[name] = output
                return output.clone() if rest is None else _replace_first(rest, output.clone())
            return None
        return hook

    try:
        for name in dict.fromkeys(names):
            module = get_layer(net, name)
            if isinstance(net, torch.jit.ScriptModule):
                raise LayerError("layer activations cannot be recorded in a TorchScript model")
            handles.append(module.register_forward_hook(make_hook(name, split_call(name)[1])))
        yield store
    finally:
        for h in handles:
            h.remove()


def _replace_first(seq, first):
    """``seq`` (tuple, named tuple or list) with its first element replaced."""
    if hasattr(seq, "_fields"):
        return type(seq)(first, *seq[1:])
    return type(seq)([first, *seq[1:]])


def forward_hooked(bundle, x: torch.Tensor, layers: Iterable[str]):
    """(logits, {layer: output}) for one forward of ``bundle`` on ``x``; the dict's ``calls``
    says how often each layer ran."""
    layers = tuple(dict.fromkeys(layers))
    with hooked(bundle.net, layers) as store:
        logits = bundle(x)
    if layers:
        from .layers import layout_of  # the layouts of the bundle's dry run (run once, kept on the bundle)

        store.layouts = {n: layout_of(bundle, n, store.get(n)) for n in layers}
    missing = [n for n in layers if n not in store]
    if missing:
        ran = {n: store.calls[n] for n in missing if n in store.calls}
        if ran:
            raise LayerError(", ".join(f"{n} asks for a call the layer never made (it ran {c} time(s))"
                                       for n, c in ran.items()))
        raise LayerError(f"layer(s) {', '.join(missing)} did not run during the forward pass")
    return logits, store


def target_scores(bundle, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-sample target scores, logits) for a batch ``x``; without grad, class targets use the
    bundle's fused inference twin."""
    if not target.layers and not torch.is_grad_enabled() and hasattr(bundle, "fast_logits"):
        logits = bundle.fast_logits(x)
        return target.score(logits, {}), logits
    logits, acts = forward_hooked(bundle, x, target.layers)
    return target.score(logits, acts), logits


@dataclass
class Capture:
    """Result of one pass: detached logits, target score, activations and gradients."""

    logits: torch.Tensor
    score: torch.Tensor
    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    gradients: dict[str, torch.Tensor] = field(default_factory=dict)
    input_grad: torch.Tensor | None = None
    unreached: frozenset[str] = frozenset()  # layers the score does not depend on: gradient structurally 0
    calls: dict[str, int] = field(default_factory=dict)  # how often each recorded layer ran (reused blocks)


def capture(bundle, x: torch.Tensor, target: Target, layers: Iterable[str] = (),
            input_grad: bool = False) -> Capture:
    """Record activations and gradients of ``target``'s score at ``layers`` in one pass."""
    layers = tuple(dict.fromkeys(layers))
    x = x.detach().to(bundle.device).requires_grad_(input_grad)
    with torch.enable_grad():
        logits, acts = forward_hooked(bundle, x, layers + target.layers)
        score = target.score(logits, acts)
        wrt = [acts[n] for n in layers] + ([x] if input_grad else [])
        grads = []
        if wrt:
            if not score.requires_grad:
                raise LayerError("the target score does not depend on any parameter-carrying path")
            grads = torch.autograd.grad(score.sum(), wrt, allow_unused=True)
    if input_grad and grads[-1] is None:
        raise LayerError(f"the score of {target.describe()} does not depend on the input")
    unreached = frozenset(n for n, g in zip(layers, grads) if g is None)
    grads = [torch.zeros_like(t) if g is None else g for t, g in zip(wrt, grads)]
    return Capture(logits=logits.detach(), score=score.detach(),
                   activations={n: acts[n].detach() for n in layers},
                   gradients={n: g.detach() for n, g in zip(layers, grads)},
                   input_grad=grads[-1].detach() if input_grad else None, unreached=unreached,
                   calls={n: acts.calls.get(n, 1) for n in layers})


def fingerprint(x: torch.Tensor) -> str:
    """Content hash of a tensor (shape, dtype and values).

    Memoised on the tensor with its version counter, which any in-place change bumps.
    """
    memo = getattr(x, "_content_fingerprint", None)
    if memo is not None and memo[0] == x._version:
        return memo[1]
    arr = x.detach().to("cpu", torch.float32).contiguous().numpy()
    digest = f"{tuple(x.shape)}:{x.dtype}:" + hashlib.blake2b(arr.tobytes(), digest_size=16).hexdigest()
    x._content_fingerprint = (x._version, digest)
    return digest


class CaptureCache:
    """Captures per (model, input, target), so switching layer or method is a cache hit.

    A request for layers not yet captured triggers one new pass over the union of old and
    new layers. ``passes`` counts the passes actually run.
    """

    def __init__(self, maxsize: int = 8):
        self.maxsize = maxsize
        self.passes = 0
        self._entries: OrderedDict[tuple, tuple[frozenset, Capture]] = OrderedDict()

    def clear(self) -> None:
        self._entries.clear()

    def get(self, bundle, x: torch.Tensor, target: Target, layers: Iterable[str] = (),
            input_grad: bool = False) -> Capture:
        layers = frozenset(layers)
        key = (id(bundle.net), fingerprint(x), target)
        entry = self._entries.get(key)
        if entry is not None:
            have, cap = entry
            if layers <= have and (not input_grad or cap.input_grad is not None):
                self._entries.move_to_end(key)
                return cap
            layers = layers | have
            input_grad = input_grad or cap.input_grad is not None
        cap = capture(bundle, x, target, sorted(layers), input_grad)
        self.passes += 1
        self._entries[key] = (layers, cap)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return cap
