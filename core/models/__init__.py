"""Loading models: torchvision zoo, state-dict checkpoints, TorchScript, pickled modules."""

from __future__ import annotations

from pathlib import Path

import torch

from .adapters import ModelOutputError, to_logits
from .bundle import ModelBundle, read_labels
from .card import InputSpec, card_architecture, read_card, spec_from_options
from .checkpoints import is_torchscript, load_pickled_module, load_state_into, load_torchscript, read_state_dict
from .checks import check_model
from .demo import DEMO_MODELS, load_demo
from .errors import ModelLoadError
from .preprocess import Preprocess
from .timm_models import build_timm, is_timm_spec
from .zoo import build_zoo, cached_zoo_names, zoo_names

__all__ = ["ModelBundle", "ModelLoadError", "ModelOutputError", "Preprocess", "load_model", "InputSpec",
           "read_card", "spec_from_options", "zoo_names", "cached_zoo_names", "to_logits", "read_labels",
           "DEMO_MODELS", "load_demo"]


def load_model(spec: str, weights: str | None = "DEFAULT", *, trust: bool = False,
               labels: str | Path | None = None, device: str = "cpu", seed: int = 0,
               num_classes: int | None = None, preprocess: Preprocess | None = None,
               progress=None, inputs: InputSpec | None = None, options: dict | None = None,
               multi_label: bool | None = None) -> ModelBundle:
    """Load a model by name or from a file into a ``ModelBundle`` on ``device``.

    ``progress`` reports (and can cancel) a weights download. ``spec``: ``demo`` /
    ``demo-biased`` (bundled), a torchvision name (``weights``: DEFAULT / enum member / none / state-dict
    path), ``timm:NAME`` (``weights``: DEFAULT / none / state-dict path; ``options``: extra
    ``timm.create_model`` arguments), a TorchScript file, a state dict (``.pth`` or ``.safetensors``)
    whose model card names its ``architecture`` (a distilled student, ``core.distill``, or
    ``{"family": "timm", "name": ...}``), or a pickled ``nn.Module`` (only with ``trust=True``).
    ``multi_label`` (or ``"multi_label": true`` in a model card, or a Hugging Face config's
    ``problem_type``) marks a sigmoid head: predictions are per-class sigmoid probabilities.
    ``inputs`` describes the input (size, channels, mean/std, channel order) over a model file's
    card (``<stem>.json`` next to it). Then a dry run checks that the input fits (else
    ``ModelLoadError``) and notes batch-dependent BatchNorm in ``bundle.warnings`` (all but
    plain torchvision models, which are known to fit).
    """
    path = Path(spec)
    card = None
    plain_zoo = False  # torchvision by name: known to fit, no dry run
    if spec in DEMO_MODELS:
        bundle = load_demo(spec)
        if labels:
            bundle.labels = read_labels(labels)
    elif spec in zoo_names():
        bundle = build_zoo(spec, weights, num_classes=num_classes, seed=seed, labels=labels, progress=progress)
        plain_zoo = True
    elif is_timm_spec(spec):
        bundle = build_timm(spec, weights, num_classes=num_classes, seed=seed, labels=labels, progress=progress,
                            options=options)
    elif path.suffix or path.exists():
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such model file")
        scripted = is_torchscript(path)
        arch = None if scripted else card_architecture(path)
        if scripted:
            net = load_torchscript(path)
        elif arch is not None:  # a state dict whose card names the architecture (a distilled student)
            net = _from_architecture(path, arch)
        else:
            net = load_pickled_module(path, trust)
        card = read_card(path)
        bundle = ModelBundle(net=net, name=path.stem, source=str(path),
                             labels=read_labels(labels) if labels else None)
    else:
        raise ModelLoadError(f"unknown model {spec!r}: not a torchvision model name or a file "
                             "('saliency-studio models' lists the names)")
    if preprocess is not None:
        bundle.preprocess = preprocess
    described = (card or InputSpec()).override(inputs)
    if not described.empty:
        try:
            bundle.preprocess = described.preprocess(bundle.preprocess)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
        if described.labels and not labels:
            bundle.labels = list(described.labels)
    bundle.multi_label = bool(multi_label if multi_label is not None else
                              (described.multi_label or _hf_multi_label(bundle.net)))
    bundle = bundle.to(_device(device))
    if not plain_zoo or not described.empty:
        check_model(bundle)
    return bundle


def _hf_multi_label(net: torch.nn.Module) -> bool:
    """A Hugging Face-style model whose config says it is a multi-label classifier."""
    config = getattr(net, "config", None)
    return getattr(config, "problem_type", None) == "multi_label_classification"


def _from_architecture(path: Path, arch: dict) -> torch.nn.Module:
    """Build the architecture a model card names and load the state dict ``path`` into it
    (``weights_only``: no code from the file runs, so no trust is needed)."""
    if arch.get("family") == "timm":
        return build_timm(str(arch.get("name", "")), str(path), num_classes=arch.get("num_classes"),
                          options=arch.get("options")).net
    from ..distill.students import build_student

    try:
        net = build_student(arch)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"model card of {path}: cannot build its architecture {arch} ({exc})") from None
    load_state_into(net, read_state_dict(path), str(path))
    return net


def _device(name: str) -> torch.device:
    name = str(name)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError("CUDA was requested but no CUDA device is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelLoadError("MPS was requested but is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ModelLoadError(f"unknown device {name!r}; use cpu, cuda or mps") from None
