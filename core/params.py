"""Parameter schemas shared by the method and metric registries: type, default, range or
choices, help, a plain label, basic vs advanced, and when a parameter is relevant at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PARAM_KINDS = ("float", "int", "bool", "choice")
CONDITION_OPS = ("in", "not in")


def _conditions(rule) -> tuple[tuple[str, str, tuple], ...]:
    """Normalise ``relevant_when``: ``{name: value or values}`` (value must be among them) or
    an iterable of ``(name, op, values)`` with ``op`` in ``CONDITION_OPS``; all must hold."""
    if not rule:
        return ()
    items = ([(k, "in", v) for k, v in rule.items()] if isinstance(rule, dict) else list(rule))
    out = []
    for name, op, values in items:
        if op not in CONDITION_OPS:
            raise ValueError(f"relevance operator must be one of {CONDITION_OPS}, not {op!r}")
        values = tuple(values) if isinstance(values, (tuple, list, set, frozenset)) else (values,)
        out.append((str(name), op, values))
    return tuple(out)


@dataclass(frozen=True)
class Param:
    """One parameter: type, default, allowed range or choices, help text; a plain
    ``label`` (defaults from the name), ``advanced`` (folded away in the GUI) and
    ``relevant_when`` (see ``_conditions``: e.g. ``{"baseline": "blur"}``)."""

    name: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    label: str = ""
    advanced: bool = False
    relevant_when: Any = ()

    def __post_init__(self):
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"parameter kind must be one of {PARAM_KINDS}, not {self.kind!r}")
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "relevant_when", _conditions(self.relevant_when))
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())

    def is_relevant(self, values: dict) -> bool:
        """Whether the parameter matters given the other parameters' ``values`` (a name
        missing from ``values`` does not rule it out)."""
        for name, op, allowed in self.relevant_when:
            if name in values and (values[name] in allowed) != (op == "in"):
                return False
        return True

    def relevance_text(self) -> str:
        """The conditions in words, e.g. "only when baseline = blur" ("" when always)."""
        parts = [f"{name} {'=' if op == 'in' else '≠'} {' or '.join(map(str, allowed))}"
                 for name, op, allowed in self.relevant_when]
        return "only when " + " and ".join(parts) if parts else ""

    def to_dict(self) -> dict:
        """JSON-ready schema of the parameter."""
        return {"name": self.name, "kind": self.kind, "default": self.default, "help": self.help,
                "min": self.min, "max": self.max, "choices": list(self.choices), "label": self.label,
                "advanced": self.advanced,
                "relevant_when": [{"param": n, "op": op, "values": list(v)} for n, op, v in self.relevant_when]}

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


class ParamSchema:
    """Mixin for a registered spec with ``name`` and ``params``: look-up and checked values."""

    kind_word = "item"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ValueError(f"{self.kind_word} {self.name!r} has no parameter {name!r}; it has: "
                         + (", ".join(p.name for p in self.params) or "none"))

    def resolve(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with checked ``overrides``."""
        values = {p.name: p.default for p in self.params}
        for name, value in (overrides or {}).items():
            values[name] = self.param(name).coerce(value)
        return values
