"""torchvision classification models by name, with optional pretrained weights."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from .bundle import ModelBundle, read_labels
from .checkpoints import implied_num_classes, load_state_into, num_outputs, read_state_dict
from .download import load_weights
from .errors import ModelLoadError
from .preprocess import Preprocess


def _tv():
    """torchvision, imported on first use: it costs ~2 s at start-up, and the demo models and
    model files do not need it."""
    import torchvision

    return torchvision


def _zoo_list_file() -> Path:
    from ..paths import cache_dir

    return cache_dir() / "zoo_names.json"


def _torchvision_version() -> str | None:
    try:
        return metadata.version("torchvision")
    except metadata.PackageNotFoundError:
        return None


def cached_zoo_names() -> tuple[str, ...] | None:
    """The zoo's names as listed by an earlier run with the same torchvision version, read
    without importing torchvision (the desktop shows them at start-up); None when unknown."""
    version = _torchvision_version()
    try:
        saved = json.loads(_zoo_list_file().read_text())
        if version is not None and saved["torchvision"] == version:
            return tuple(str(n) for n in saved["names"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


@lru_cache(maxsize=1)
def zoo_names() -> tuple[str, ...]:
    """Every torchvision classification model (``torchvision.models.list_models``), also saved
    for ``cached_zoo_names``."""
    names = tuple(_tv().models.list_models(module=_tv().models))
    try:
        _zoo_list_file().write_text(json.dumps({"torchvision": _torchvision_version(), "names": list(names)}))
    except OSError:
        pass  # a read-only cache only costs the next start-up the import
    return names


def _default_weights(name: str):
    try:
        return _tv().models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return None


def resolve_weights(name: str, weights: str):
    """A torchvision weights enum from ``DEFAULT``, ``IMAGENET1K_V1`` or ``Enum.MEMBER``."""
    enum = _tv().models.get_model_weights(name)
    member = weights.split(".")[-1]
    if member == "DEFAULT":
        return enum.DEFAULT
    try:
        return enum[member]
    except KeyError:
        choices = ", ".join(["DEFAULT"] + [w.name for w in enum])
        raise ModelLoadError(f"{name} has no weights {weights!r}; choose one of: {choices}, none, "
                             "or a state-dict file") from None


def build_zoo(name: str, weights: str | None = "DEFAULT", *, num_classes: int | None = None,
              seed: int = 0, labels: str | Path | None = None, progress=None) -> ModelBundle:
    """A torchvision model as a ``ModelBundle``.

    ``weights``: ``"DEFAULT"``/an enum member name (download, cached), ``None``/``"none"``
    (random init seeded by ``seed``), or the path of a state-dict file for this architecture.
    Preprocessing and ImageNet labels come from the weights' metadata.
    """
    if name not in zoo_names():
        raise ModelLoadError(f"unknown model {name!r}; 'saliency-studio models' lists them")
    meta = _default_weights(name)
    state, source = None, "random init"
    if weights is not None and str(weights).lower() != "none":
        weights = str(weights)
        if Path(weights).suffix or os.sep in weights or Path(weights).exists():
            state, source = read_state_dict(weights), str(weights)
        else:
            meta = resolve_weights(name, weights)
            state, source = load_weights(meta, progress), str(meta)

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    if name.startswith(("googlenet", "inception")):
        kwargs["aux_logits"] = state is not None and any(k.startswith("aux") for k in state)
        kwargs["init_weights"] = False
    net = _build(name, seed, kwargs)
    if state is not None and num_classes is None:
        implied = implied_num_classes(state, net, num_outputs(net) or 0)
        if implied is not None:  # a fine-tuned head: build the architecture to match
            net = _build(name, seed, {**kwargs, "num_classes": implied})
    if state is not None:
        load_state_into(net, state, source)

    preprocess = Preprocess.from_torchvision(meta.transforms()) if meta is not None else Preprocess()
    n_out = num_outputs(net)
    if labels is not None:
        names = read_labels(labels)
    elif meta is not None and len(meta.meta.get("categories", [])) == n_out:
        names = list(meta.meta["categories"])
    else:
        names = [f"class {i}" for i in range(n_out or 0)] or None
    return ModelBundle(net=net, preprocess=preprocess, labels=names, name=name, source=source)



def _build(name: str, seed: int, kwargs: dict) -> nn.Module:
    torch.manual_seed(seed)
    try:
        return _tv().models.get_model(name, weights=None, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"cannot build {name} with {kwargs}: {exc}") from None
