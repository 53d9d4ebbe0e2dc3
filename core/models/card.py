"""How a model file wants its input: model cards and the matching options (CLI and GUI).

A model card is ``<model file stem>.json`` next to the model file, with any of the keys
``input_size`` (N or [H, W]), ``resize`` (shorter side, then centre crop), ``channels`` (1 or 3),
``mean``, ``std`` (one value, or one per channel), ``channel_order`` ("rgb" / "bgr") and
``labels`` (a list, or a file path relative to the card) and ``multi_label`` (true: a sigmoid
head, one yes/no probability per class). Options given explicitly win.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .bundle import read_labels
from .errors import ModelLoadError
from .preprocess import CHANNEL_ORDERS, Preprocess

CHANNELS = (1, 3)
# How each field is named in messages, per source of the values.
OPTION_NAMES = {"input_size": "--input-size", "resize": "--resize", "channels": "--channels",
                "mean": "--mean", "std": "--std", "channel_order": "--channel-order"}
CARD_NAMES = {name: f"'{name}'" for name in OPTION_NAMES}
FORM_NAMES = {name: name.replace("_", " ") for name in OPTION_NAMES}


@dataclass(frozen=True)
class InputSpec:
    """What is known of a model's input; ``None`` fields are unspecified (defaults apply)."""

    input_size: tuple[int, int] | None = None
    resize: int | None = None
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channel_order: str | None = None
    labels: tuple[str, ...] | None = None
    multi_label: bool | None = None  # a sigmoid head: each class its own yes/no probability
    source: str = ""  # where the values came from, for messages

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self) if f.name != "source")

    def override(self, other: "InputSpec | None") -> "InputSpec":
        """These values with every field that ``other`` specifies replaced by ``other``'s."""
        if other is None or other.empty:
            return self
        if self.empty:
            return other
        values = {f.name: getattr(other, f.name) for f in fields(other)
                  if f.name != "source" and getattr(other, f.name) is not None}
        return replace(self, **values, source=" and ".join(s for s in (other.source, self.source) if s))

    def preprocess(self, base: Preprocess | None = None) -> Preprocess:
        """``base`` (default: ImageNet's) with these values applied, or a ``ValueError`` naming
        the inconsistency. ``input_size`` alone resizes straight to it; with ``resize``, the
        shorter side goes to ``resize`` and the centre is cropped."""
        base = base or Preprocess()
        where = f" ({self.source})" if self.source else ""
        channels = self.channels or base.channels
        order = self.channel_order or base.channel_order
        if self.input_size is not None:
            crop, resize = self.input_size, self.resize
        else:
            crop, resize = base.crop, self.resize if self.resize is not None else base.resize
        if resize is not None and resize < min(crop):
            raise ValueError(f"resize {resize} is smaller than the input size {crop[0]}×{crop[1]}{where}")
        if order == "bgr" and channels != 3:
            raise ValueError(f"channel order bgr needs 3 channels, not {channels}{where}")
        stats = {}
        for name in ("mean", "std"):
            given = getattr(self, name)
            values = given if given is not None else getattr(base, name)
            if len(values) == 1:
                values = tuple(values) * channels
            if len(values) != channels:
                said = f"{name} has {len(values)} values" if given is not None else \
                    f"the default {name} has {len(values)} values"
                count = "1 value" if channels == 1 else f"1 or {channels} values"
                raise ValueError(f"{said} but the input has {channels} channel{'s' * (channels > 1)}; "
                                 f"give {name} as {count}{where}")
            stats[name] = tuple(float(v) for v in values)
        if any(s <= 0 for s in stats["std"]):
            raise ValueError(f"std must be positive, got {stats['std']}{where}")
        return replace(base, crop=tuple(crop), resize=resize, channels=channels, channel_order=order, **stats)


def describe(pre: Preprocess) -> InputSpec:
    """A complete ``InputSpec`` of ``pre`` (to pre-fill a form)."""
    return InputSpec(input_size=tuple(pre.crop), resize=pre.resize, channels=pre.channels, mean=tuple(pre.mean),
                     std=tuple(pre.std), channel_order=pre.channel_order)


def parse_size(value, what: str = "input size") -> tuple[int, int]:
    """``N``, ``"N"``, ``"H,W"`` / ``"HxW"`` or ``[H, W]`` as (H, W)."""
    if isinstance(value, (list, tuple)):
        parts = list(value)
    elif isinstance(value, int):
        parts = [value]
    else:
        found = re.fullmatch(r"\s*(\d+)\s*(?:[,x×]\s*(\d+)\s*)?", str(value))
        parts = [p for p in found.groups() if p is not None] if found else []
    try:
        sizes = [int(str(p)) for p in parts if not isinstance(p, bool)]
    except ValueError:
        sizes = []
    if not parts or len(sizes) != len(parts) or len(sizes) > 2 or min(sizes) <= 0:
        raise ValueError(f"{what} expects N or H,W (positive integers), got {value!r}")
    return (sizes[0], sizes[-1])


def parse_floats(value, what: str = "mean") -> tuple[float, ...]:
    """One number, or several comma-separated (or a list), as a tuple of floats."""
    parts = list(value) if isinstance(value, (list, tuple)) else \
        [p for p in re.split(r"[,\s]+", str(value).strip()) if p]
    try:
        numbers = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        numbers = ()
    if not numbers or isinstance(value, bool):
        raise ValueError(f"{what} expects one number or comma-separated numbers, got {value!r}")
    return numbers


def parse_int(value, what: str, choices=None) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or isinstance(value, bool) or (choices and number not in choices) or number <= 0:
        allowed = " or ".join(map(str, choices)) if choices else "a positive integer"
        raise ValueError(f"{what} expects {allowed}, got {value!r}")
    return number


def parse_order(value, what: str = "channel order") -> str:
    order = str(value).strip().lower()
    if order not in CHANNEL_ORDERS:
        raise ValueError(f"{what} expects {' or '.join(CHANNEL_ORDERS)}, got {value!r}")
    return order


def spec_from_values(values: dict, names: dict[str, str] = FORM_NAMES, source: str = "") -> InputSpec:
    """Parse raw values (strings from a command line or form; JSON values from a card);
    ``None`` or "" leaves a field unspecified. ``names`` name the fields in messages."""
    given = {k: v for k, v in values.items() if k in OPTION_NAMES and v is not None and v != ""}
    parsed = {}
    for key, value in given.items():
        what = names[key]
        if key == "input_size":
            parsed[key] = parse_size(value, what)
        elif key == "resize":
            parsed[key] = parse_int(value, what)
        elif key == "channels":
            parsed[key] = parse_int(value, what, CHANNELS)
        elif key in ("mean", "std"):
            parsed[key] = parse_floats(value, what)
        else:
            parsed[key] = parse_order(value, what)
    return InputSpec(**parsed, source=source if parsed else "")


def spec_from_options(input_size=None, resize=None, channels=None, mean=None, std=None,
                      channel_order=None) -> InputSpec:
    """An ``InputSpec`` from command-line option strings (messages name the options)."""
    return spec_from_values(dict(input_size=input_size, resize=resize, channels=channels, mean=mean, std=std,
                                 channel_order=channel_order), OPTION_NAMES, "command line")


def card_path(model_path: str | Path) -> Path:
    """Where the model card of ``model_path`` would be: ``<stem>.json`` next to it."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + ".json")


def _card_json(model_path: str | Path) -> tuple[Path, dict] | None:
    """(card path, its JSON object) for the card next to ``model_path``; ``None`` when there is none."""
    path = card_path(model_path)
    if not path.is_file() or path == Path(model_path):
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"model card {path}: not readable JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"model card {path}: expected a JSON object, got {type(data).__name__}")
    return path, data


def read_card(model_path: str | Path) -> InputSpec | None:
    """The model card next to ``model_path`` as an ``InputSpec`` (``None`` when there is none)."""
    found = _card_json(model_path)
    if found is None:
        return None
    path, data = found
    names = {k: f"{v} in model card {path}" for k, v in CARD_NAMES.items()}
    try:
        spec = spec_from_values(data, names, f"model card {path.name}")
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None
    labels = data.get("labels", data.get("classes"))
    if labels is not None:
        spec = replace(spec, labels=_card_labels(labels, path), source=f"model card {path.name}")
    multi = data.get("multi_label", data.get("head") == "sigmoid" if "head" in data else None)
    if multi is not None:
        if not isinstance(multi, bool):
            raise ModelLoadError(f"model card {path}: 'multi_label' must be true or false, got {multi!r}")
        spec = replace(spec, multi_label=multi, source=f"model card {path.name}")
    return spec


def _card_labels(labels, card: Path) -> tuple[str, ...]:
    if isinstance(labels, str):
        file = card.parent / labels
        if not file.is_file():
            raise ModelLoadError(f"model card {card}: labels file {file} not found")
        return tuple(read_labels(file))
    if isinstance(labels, dict):
        try:
            return tuple(str(labels[k]) for k in sorted(labels, key=int))
        except ValueError:
            pass
    elif isinstance(labels, list):
        return tuple(str(v) for v in labels)
    raise ModelLoadError(f"model card {card}: 'labels' must be a list of names or a file path")


ARCHITECTURE_FAMILIES = ("shapesnet", "torchvision", "timm")


def card_architecture(model_path: str | Path) -> dict | None:
    """The ``architecture`` object of the card next to ``model_path``, when it names one that can
    be rebuilt (a distilled student: ``{"family": "shapesnet", "widths": [...], "depth": d,
    "num_classes": K}`` or ``{"family": "torchvision", "name": ..., "num_classes": K}``); then the
    model file is a plain state dict, read with ``weights_only=True``. ``None`` without such a card
    (a free-text ``architecture``, as in the demo models' cards, names nothing to rebuild; an
    unreadable card is reported by ``read_card``, as before)."""
    try:
        found = _card_json(model_path)
    except ModelLoadError:
        return None
    if found is None:
        return None
    path, data = found
    arch = data.get("architecture")
    if not isinstance(arch, dict):
        return None
    if arch.get("family") not in ARCHITECTURE_FAMILIES:
        raise ModelLoadError(f"model card {path}: 'architecture' family must be one of "
                             f"{', '.join(ARCHITECTURE_FAMILIES)}, got {arch.get('family')!r}")
    return arch
