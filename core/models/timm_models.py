"""timm models by name: ``--model timm:NAME`` (the optional ``timm`` extra).

Weights: ``none`` (random init, seeded), ``DEFAULT`` (timm's pretrained weights through its own
Hugging Face hub cache; offline, one line naming the file and the folder it belongs in) or a
state-dict file (``.safetensors`` / ``.pth``; a fine-tuned head is detected). The preprocessing —
input size, mean/std, interpolation, crop — comes from the model's own ``pretrained_cfg``
(timm's ``resolve_model_data_config``), ImageNet labels from timm's bundled class lists.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..messages import first_line
from .bundle import ModelBundle, read_labels
from .checkpoints import implied_num_classes, load_state_into, num_outputs, read_state_dict
from .errors import ModelLoadError
from .preprocess import Preprocess

PREFIX = "timm:"
INSTALL_HINT = "timm is not installed; install the extra: pip install 'saliency-studio[timm]'"


def is_timm_spec(spec: str) -> bool:
    return str(spec).startswith(PREFIX)


def _timm():
    try:
        import timm
    except ImportError:
        raise ModelLoadError(INSTALL_HINT) from None
    return timm


def available() -> bool:
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def timm_names() -> tuple[str, ...]:
    """Every timm architecture name (``timm.list_models()``); empty without timm."""
    if not available():
        return ()
    import timm

    return tuple(timm.list_models())


def family(name: str) -> str:
    """The family of a timm name: its first word without a size number (``convnext_atto`` →
    ``convnext``, ``resnet50d`` → ``resnet``, ``swinv2_cr_tiny_ns_224`` → ``swinv2``)."""
    head = name.split("_")[0]
    found = re.match(r"[a-z]+?(?:v\d+)?(?=\d|$)", head)
    return found.group(0) if found else head


def families() -> dict[str, int]:
    """{family: number of architectures}, most populous first."""
    return dict(Counter(family(n) for n in timm_names()).most_common())


def search(text: str, limit: int = 200) -> list[str]:
    """timm names containing every word of ``text`` (case-insensitive), as ``timm:NAME``."""
    words = text.lower().split()
    found = [n for n in timm_names() if all(w in n for w in words)]
    return [PREFIX + n for n in found[:limit]]


def preprocess_from_cfg(cfg: dict, input_size: tuple[int, int] | None = None) -> Preprocess:
    """timm's data config (``input_size``, ``crop_pct``, ``crop_mode``, ``interpolation``, ``mean``,
    ``std``) as a ``Preprocess``: resize the shorter side to ⌊size / crop_pct⌋, then centre-crop (as
    timm's eval transform); ``squash`` with crop_pct 1 resizes straight to the input size."""
    channels, h, w = cfg.get("input_size", (3, 224, 224))
    if input_size is not None:
        h, w = input_size
    crop_pct = float(cfg.get("crop_pct") or 1.0)
    resize = math.floor(min(h, w) / crop_pct)
    if cfg.get("crop_mode") == "squash" and crop_pct >= 1.0:
        resize = None
    interp = "bicubic" if "bicubic" in str(cfg.get("interpolation", "")).lower() else "bilinear"
    mean, std = tuple(cfg.get("mean", (0.485, 0.456, 0.406))), tuple(cfg.get("std", (0.229, 0.224, 0.225)))
    if len(mean) == 1 and channels > 1:
        mean, std = mean * channels, std * channels
    return Preprocess(crop=(int(h), int(w)), resize=None if resize is None else int(max(resize, min(h, w))),
                      mean=mean, std=std, interpolation=interp, channels=int(channels))


def weights_location(name: str) -> tuple[str, str]:
    """(file, folder) of ``name``'s pretrained weights: the Hugging Face hub file and timm's hub
    cache, or the URL's file and the torch hub cache for weights hosted elsewhere."""
    timm = _timm()
    try:
        cfg = timm.models.get_pretrained_cfg(name) or {}
    except Exception:  # noqa: BLE001 - unknown tag: described by the caller
        cfg = {}
    cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    if cfg.get("hf_hub_id"):
        from huggingface_hub import constants

        repo = cfg["hf_hub_id"]
        return (f"model.safetensors of https://huggingface.co/{repo}",
                str(Path(constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))))
    if cfg.get("url"):
        return cfg["url"], str(Path(torch.hub.get_dir()) / "checkpoints")
    return f"the pretrained weights of {name}", str(Path(torch.hub.get_dir()))


def build_timm(spec: str, weights: str | None = "DEFAULT", *, num_classes: int | None = None, seed: int = 0,
               labels: str | Path | None = None, progress=None, options: dict | None = None) -> ModelBundle:
    """A timm model as a ``ModelBundle``. ``spec``: ``timm:NAME`` (a ``NAME.TAG`` picks one
    pretrained variant); ``options``: extra ``timm.create_model`` arguments (``img_size``,
    ``depths``, ...; an ``img_size`` also sets the input size)."""
    timm = _timm()
    name = spec[len(PREFIX):] if is_timm_spec(spec) else spec
    arch = name.split(".")[0]
    if arch not in timm_names():
        close = [n for n in timm_names() if arch.split("_")[0] in n][:5]
        raise ModelLoadError(f"unknown timm model {arch!r}" + (f"; e.g. {', '.join(close)}" if close else "")
                             + " ('saliency-studio models' lists the families)")
    options = dict(options or {})
    if num_classes is not None:
        options["num_classes"] = num_classes
    state, source = None, "random init"
    weights = None if weights is None or str(weights).lower() == "none" else str(weights)
    if weights is not None and weights != "DEFAULT":
        if not (Path(weights).suffix or os.sep in weights or Path(weights).exists()):
            raise ModelLoadError(f"timm weights are DEFAULT, none or a state-dict file, not {weights!r} "
                                 f"(a pretrained variant is part of the name: timm:{arch}.TAG)")
        state, source = read_state_dict(weights), weights
    net = _create(timm, name, weights == "DEFAULT", seed, options, progress)
    if weights == "DEFAULT":
        source = f"timm pretrained {net.pretrained_cfg.get('hf_hub_id') or name}"
    if state is not None and num_classes is None:
        implied = implied_num_classes(state, net, num_outputs(net) or 0)
        if implied is not None:  # a fine-tuned head: rebuild the architecture to match
            net = _create(timm, name, False, seed, {**options, "num_classes": implied}, progress)
    if state is not None:
        load_state_into(net, state, source)

    size = options.get("img_size")
    size = (size, size) if isinstance(size, int) else (tuple(size) if size is not None else None)
    cfg = timm.data.resolve_model_data_config(net)
    n_out = num_outputs(net)
    names = read_labels(labels) if labels is not None else imagenet_labels(net, n_out)
    return ModelBundle(net=net, preprocess=preprocess_from_cfg(cfg, size), labels=names, name=PREFIX + name,
                       source=source)


def _create(timm, name: str, pretrained: bool, seed: int, options: dict, progress) -> nn.Module:
    torch.manual_seed(seed)
    if not pretrained:
        try:
            return timm.create_model(name, pretrained=False, **options)
        except (TypeError, ValueError, RuntimeError, AssertionError) as exc:
            raise ModelLoadError(f"cannot build timm model {name} with {options}: {first_line(exc)}") from None
    if progress is not None:
        progress.message = f"fetching the pretrained weights of {name} (timm)"
    try:
        return timm.create_model(name, pretrained=True, **options)
    except (RuntimeError, KeyError) as exc:
        if "size mismatch" in str(exc) or "Missing key" in str(exc):
            raise ModelLoadError(f"timm's pretrained weights of {name} do not fit {options}: "
                                 f"{first_line(exc)}") from None
        raise _offline(name, exc) from None
    except Exception as exc:  # noqa: BLE001 - hub errors (offline, not found) come in many types
        raise _offline(name, exc) from None


def _offline(name: str, exc: Exception) -> ModelLoadError:
    file, folder = weights_location(name)
    reason = first_line(exc)
    reason = reason if len(reason) <= 100 else reason[:97] + "..."
    return ModelLoadError(
        f"could not get the pretrained weights of timm:{name} ({type(exc).__name__}: {reason}): they are {file}, "
        f"which timm keeps in {folder}. Without internet, download that file elsewhere and pass it with "
        "--weights FILE, or choose weights none")


def imagenet_labels(net: nn.Module, classes: int | None) -> list[str] | None:
    """Class names for an ImageNet head from timm's bundled lists (the first synonym of each),
    else ``class i``."""
    if not classes:
        return None
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(net)
        if subset:
            info = ImageNetInfo(subset)
            if info.num_classes() == classes:
                return [info.index_to_description(i).split(",")[0].strip() for i in range(classes)]
    except Exception:  # noqa: BLE001 - labels are a convenience; never block loading
        pass
    return [f"class {i}" for i in range(classes)]
