"""The method registry: each attribution method registered once with its schema.

The CLI and the GUI build their lists and parameter forms from here; nothing lists methods
by hand a second time. A method is ``fn(ctx: MethodContext, **params) -> MethodOutput``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..capture import CaptureCache
from ..jobs import Progress
from ..targets import Target

PARAM_KINDS = ("float", "int", "bool", "choice")


@dataclass(frozen=True)
class Param:
    """One method parameter: type, default, allowed range or choices, help text."""

    name: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple = ()

    def coerce(self, value: Any) -> Any:
        """Convert ``value`` (possibly a CLI string) and check it, or raise ``ValueError``."""
        try:
            if self.kind == "bool":
                if isinstance(value, str):
                    if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError
                    value = value.lower() in ("1", "true", "yes", "on")
                value = bool(value)
            elif self.kind == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                value = int(value)
            elif self.kind == "float":
                value = float(value)
            elif self.kind == "choice":
                value = str(value)
        except (TypeError, ValueError):
            raise ValueError(f"parameter {self.name!r} expects {self.kind}, got {value!r}") from None
        if self.kind == "choice" and value not in self.choices:
            raise ValueError(f"parameter {self.name!r} must be one of {', '.join(self.choices)}; got {value!r}")
        if self.kind in ("int", "float"):
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise ValueError(f"parameter {self.name!r} must lie in [{self.min}, {self.max}]; got {value}")
        return value

    def describe(self) -> str:
        extra = f" one of {'|'.join(self.choices)}" if self.choices else (
            f" in [{self.min}, {self.max}]" if self.min is not None or self.max is not None else "")
        return f"{self.name} ({self.kind}{extra}, default {self.default!r}): {self.help}"


@dataclass
class MethodContext:
    """What a method runs on: model, one input, target, optional layer, progress, cache."""

    bundle: Any
    x: torch.Tensor
    target: Target
    layer: str | None = None
    progress: Progress = field(default_factory=Progress)
    cache: CaptureCache = field(default_factory=CaptureCache)
    seed: int = 0
    prefetch_layers: tuple[str, ...] = ()  # captured along with ``layer`` so switching is free
    partial: Callable[["MethodOutput"], None] | None = None  # receives intermediate maps


@dataclass
class MethodOutput:
    """A method's result: H×W ``map``, optional C×H×W ``attribution`` and low-res map."""

    map: torch.Tensor | np.ndarray
    attribution: torch.Tensor | np.ndarray | None = None
    low_res: torch.Tensor | np.ndarray | None = None
    info: dict = field(default_factory=dict)  # JSON-ready facts (numbers, strings)
    extras: dict = field(default_factory=dict)  # arrays kept for the GUI (e.g. RISE's per-class maps)


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: identity, citation, parameters and the function to call."""

    name: str
    label: str
    family: str
    citation: str
    summary: str
    params: tuple[Param, ...]
    fn: Callable[..., MethodOutput]
    needs_layer: bool = False

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ValueError(f"method {self.name!r} has no parameter {name!r}; it has: "
                         + (", ".join(p.name for p in self.params) or "none"))

    def resolve(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with checked ``overrides``."""
        values = {p.name: p.default for p in self.params}
        for name, value in (overrides or {}).items():
            values[name] = self.param(name).coerce(value)
        return values

    def __call__(self, ctx: MethodContext, **params) -> MethodOutput:
        return self.fn(ctx, **self.resolve(params))


REGISTRY: dict[str, MethodSpec] = {}


def register(name: str, *, label: str, family: str, citation: str, params: tuple[Param, ...] = (),
             needs_layer: bool = False):
    """Decorator adding ``fn`` to the registry under ``name`` (its docstring is the summary)."""

    def wrap(fn):
        if name in REGISTRY:
            raise ValueError(f"method {name!r} registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else label
        REGISTRY[name] = MethodSpec(name, label, family, citation, summary, tuple(params), fn, needs_layer)
        return fn

    return wrap


def get_method(name: str) -> MethodSpec:
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(REGISTRY)}")
    return REGISTRY[name]
