"""Turning whatever a model returns into a logits tensor, or saying clearly what came back."""

from __future__ import annotations

import torch


class ModelOutputError(TypeError):
    """A model returned something that is not (and does not contain) class logits."""


def describe(out) -> str:
    if isinstance(out, torch.Tensor):
        return f"a tensor of shape {tuple(out.shape)}"
    if isinstance(out, dict):
        return "a dict with keys " + ", ".join(repr(k) for k in out)
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)}: [" + ", ".join(describe(o) for o in out) + "]"
    return f"an object of type {type(out).__name__}"


def to_logits(out) -> torch.Tensor:
    """Return the N×K logits inside ``out``.

    Accepts a tensor; a dict or ``ModelOutput``-like object with ``logits`` (or ``out``);
    a tuple/list whose first element is the logits (torchvision's GoogLeNet/Inception
    auxiliary outputs, HuggingFace ``return_dict=False``). Anything else is refused.
    """
    if isinstance(out, torch.Tensor):
        logits = out
    elif isinstance(out, dict) or hasattr(out, "keys"):
        key = next((k for k in ("logits", "out") if k in out), None)
        if key is None:
            raise ModelOutputError(f"the model returned {describe(out)}; expected a 'logits' entry")
        logits = out[key]
    elif hasattr(out, "logits") and isinstance(out.logits, torch.Tensor):
        logits = out.logits
    elif isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        logits = out[0]
    else:
        raise ModelOutputError(f"the model returned {describe(out)}; expected class logits")
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ModelOutputError(
            f"the model returned {describe(out)}; expected logits of shape (batch, classes)")
    return logits
