"""What an explanation explains: a class score, or one unit of an intermediate layer.

Every method takes a target. ``ClassTarget`` is the usual case; ``UnitTarget`` is Zeiler &
Fergus's "pick a single intermediate neuron" (2014, §2.1): channel ``c`` of layer ``L``,
reduced over space by mean or max, or read at one position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CLASS_KINDS = ("logit", "probability", "log_probability", "sigmoid")
UNIT_REDUCTIONS = ("mean", "max", "sum", "position")


@dataclass(frozen=True)
class ClassTarget:
    """Score of class ``index``: its logit (default), softmax probability, log-probability, or
    ``sigmoid`` probability σ(z) — the score of a multi-label head, where each class is its own
    yes/no question and the probabilities do not sum to one."""

    index: int
    kind: str = "logit"

    def __post_init__(self):
        if self.kind not in CLASS_KINDS:
            raise ValueError(f"class target kind must be one of {CLASS_KINDS}, not {self.kind!r}")

    @property
    def layers(self) -> tuple[str, ...]:
        return ()

    def score(self, logits: torch.Tensor, activations: dict[str, torch.Tensor]) -> torch.Tensor:
        if not 0 <= self.index < logits.shape[1]:
            raise ValueError(f"class {self.index} is out of range: the model has {logits.shape[1]} classes")
        if self.kind == "logit":
            return logits[:, self.index]
        if self.kind == "sigmoid":
            return torch.sigmoid(logits[:, self.index])
        logp = torch.log_softmax(logits, dim=1)[:, self.index]
        return logp if self.kind == "log_probability" else logp.exp()

    def describe(self, label: str | None = None) -> str:
        name = f"class {self.index}" + (f" ({label})" if label else "")
        return name if self.kind == "logit" else f"{self.kind} of {name}"


@dataclass(frozen=True)
class UnitTarget:
    """Channel ``channel`` of layer ``layer``: mean/max/sum over space, or at ``position`` (y, x).

    The layer's layout (``core.layouts``, attached by the capture) says where the channels are:
    channels-last (Swin) outputs are read as such; for token layers (N×T×C) the channel is the last
    axis and ``position`` a token index, or (y, x) on the patch grid after the prefix tokens.
    """

    layer: str
    channel: int
    reduce: str = "mean"
    position: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.reduce not in UNIT_REDUCTIONS:
            raise ValueError(f"unit reduction must be one of {UNIT_REDUCTIONS}, not {self.reduce!r}")
        if (self.reduce == "position") != (self.position is not None):
            raise ValueError("a unit at one position needs reduce='position' and a position")

    @property
    def layers(self) -> tuple[str, ...]:
        return (self.layer,)

    def score(self, logits: torch.Tensor, activations: dict[str, torch.Tensor]) -> torch.Tensor:
        act = activations[self.layer]
        layout = getattr(activations, "layouts", {}).get(self.layer)
        if layout is not None and layout.kind == "nhwc" and act.ndim == 4:  # channels last (Swin)
            act = act.permute(0, 3, 1, 2)
        elif layout is not None and layout.kind == "tokens" and act.ndim == 3 and \
                self.position is not None and len(self.position) == 2:
            act = layout.to_grid(act, self.layer)  # (y, x) on the patch grid, prefix tokens skipped
        elif act.ndim == 3:  # tokens: N×T×C → N×C×T
            act = act.transpose(1, 2)
        if act.ndim < 2 or not 0 <= self.channel < act.shape[1]:
            raise ValueError(f"channel {self.channel} is out of range for layer {self.layer!r} "
                             f"with output shape {tuple(act.shape)}")
        unit = act[:, self.channel]
        if self.reduce == "position":
            if len(self.position) != unit.ndim - 1 or any(
                    not 0 <= p < s for p, s in zip(self.position, unit.shape[1:])):
                raise ValueError(f"position {self.position} is outside layer {self.layer!r} "
                                 f"(positions: {tuple(unit.shape[1:])})")
            return unit[(slice(None),) + tuple(self.position)]
        flat = unit.reshape(unit.shape[0], -1)
        return {"mean": flat.mean, "max": lambda dim: flat.max(dim).values, "sum": flat.sum}[self.reduce](1)

    def describe(self, label: str | None = None) -> str:
        where = f" at {self.position}" if self.position is not None else f" ({self.reduce})"
        return f"unit {self.layer}:{self.channel}{where}"


Target = ClassTarget | UnitTarget


def parse_unit(text: str, reduce: str = "mean") -> UnitTarget:
    """``LAYER:CHANNEL`` or ``LAYER:CHANNEL@Y,X`` → ``UnitTarget``."""
    spec, _, pos = text.partition("@")
    layer, sep, channel = spec.rpartition(":")
    if not sep or not layer or not channel.strip().isdigit():
        raise ValueError(f"a unit is LAYER:CHANNEL or LAYER:CHANNEL@Y,X, not {text!r}")
    if pos:
        try:
            position = tuple(int(p) for p in pos.split(","))
        except ValueError:
            raise ValueError(f"bad unit position {pos!r}: expected integers like 3,4") from None
        return UnitTarget(layer, int(channel), "position", position)
    return UnitTarget(layer, int(channel), reduce)
