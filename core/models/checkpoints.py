"""Reading model files: state-dict checkpoints, TorchScript archives, pickled modules.

Unpickling can run arbitrary code, so by default files are read with
``torch.load(weights_only=True)``; a pickled ``nn.Module`` loads only with ``trust=True``.
``safetensors`` files hold tensors and no code at all: they are read wherever a state dict is
accepted, with no trust question.
"""

from __future__ import annotations

import json
import pickle
import struct
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ..messages import first_line
from .errors import ModelLoadError

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
_PREFIXES = ("module.", "_orig_mod.")


def is_torchscript(path: str | Path) -> bool:
    """True when ``path`` is a TorchScript archive (a zip with compiled code)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.split("/", 1)[-1].startswith(("code/", "constants.pkl")) for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def is_safetensors(path: str | Path) -> bool:
    """True when ``path`` is a safetensors file (8-byte little-endian header length, then a JSON
    header), whatever its name."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
            size = struct.unpack("<Q", head[:8])[0] if len(head) == 9 else 0
            return head[8:9] == b"{" and 1 < size <= Path(path).stat().st_size - 8
    except OSError:
        return False


def read_safetensors(path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """The tensors of a safetensors file (no code runs; needs the ``safetensors`` package)."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ModelLoadError(f"{path}: reading .safetensors files needs the safetensors package "
                             "(pip install 'saliency-studio[timm]')") from None
    try:
        return OrderedDict(load_file(str(path), device="cpu"))
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise ModelLoadError(f"{path}: not a readable safetensors file ({first_line(exc)})") from None


def safetensors_metadata(path: str | Path) -> dict:
    """The free-text ``__metadata__`` of a safetensors header ({} when there is none)."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
    return dict(header.get("__metadata__") or {})


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file")


def load_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():  # torch's own deprecation notice is not for the user
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError / ValueError with long C++ traces
        raise ModelLoadError(f"{path}: not a loadable TorchScript file ({first_line(exc)})") from None


def read_state_dict(path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """A flat ``{name: tensor}`` state dict from a checkpoint, safely (``weights_only``, or a
    safetensors file).

    Unwraps ``{'state_dict': ...}``-style wrappers and strips ``module.`` (DataParallel)
    and ``_orig_mod.`` (torch.compile) prefixes.
    """
    path = Path(path)
    _check_file(path)
    if is_torchscript(path):
        raise ModelLoadError(f"{path}: this is a TorchScript model, not a state dict; "
                             "open it as a model file instead of as weights")
    try:
        obj = read_safetensors(path) if is_safetensors(path) else \
            torch.load(str(path), map_location="cpu", weights_only=True)
    except ModelLoadError:
        raise
    except pickle.UnpicklingError:
        raise ModelLoadError(
            f"{path}: the file holds pickled Python objects (perhaps a whole model), which can run "
            "code when loaded; it is not a plain state dict. Open it as a model file with the "
            "trust option if you trust its source") from None
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a PyTorch checkpoint ({first_line(exc)})") from None
    for _ in range(3):
        if isinstance(obj, dict) and not _is_tensor_dict(obj):
            inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict) or not _is_tensor_dict(obj):
        raise ModelLoadError(f"{path}: no state dict found (top-level keys: "
                             f"{', '.join(map(str, list(obj)[:8])) if isinstance(obj, dict) else type(obj).__name__})")
    out = OrderedDict()
    for key, value in obj.items():
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def _is_tensor_dict(d: dict) -> bool:
    return bool(d) and all(isinstance(v, torch.Tensor) for v in d.values())


def implied_num_classes(state: dict, net: nn.Module, num_classes: int) -> int | None:
    """Classes a checkpoint implies: dim 0 of the tensors where the model has ``num_classes``."""
    model_state = net.state_dict()
    found = {state[k].shape[0] for k, v in model_state.items()
             if k in state and v.ndim >= 1 and v.shape[0] == num_classes and state[k].shape != v.shape}
    return found.pop() if len(found) == 1 else None


def num_outputs(net: nn.Module) -> int | None:
    """Classes of a classifier: out size of its last Linear layer (else last 1×1 conv)."""
    linears = [m.out_features for m in net.modules() if isinstance(m, nn.Linear)]
    convs = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    return linears[-1] if linears else (convs[-1] if convs else None)


def mismatch_report(state: dict, net: nn.Module) -> str:
    """Readable lines: missing keys, unexpected keys, shape differences, implied classes
    ("" when the state dict fits)."""
    model_state = net.state_dict()
    missing = [k for k in model_state if k not in state]
    unexpected = [k for k in state if k not in model_state]
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in model_state.items() if k in state and state[k].shape != v.shape]

    def block(title, items):
        if not items:
            return []
        shown = items[:10] + ([f"... and {len(items) - 10} more"] if len(items) > 10 else [])
        return [f"  {title} ({len(items)}): " + "; ".join(shown)]

    lines = block("missing keys", missing) + block("unexpected keys", unexpected) + block("shape differences", shapes)
    n_model = num_outputs(net)
    implied = implied_num_classes(state, net, n_model) if n_model else None
    if implied is not None:
        lines.append(f"  the checkpoint implies {implied} classes; the model has {n_model}")
    return "\n".join(lines)


def load_state_into(net: nn.Module, state: dict, what: str) -> None:
    """Load ``state`` strictly into ``net`` or raise a readable ``ModelLoadError``."""
    report = mismatch_report(state, net)
    if report:
        raise ModelLoadError(f"the state dict in {what} does not fit the model:\n{report}")
    net.load_state_dict(state, strict=True)


def load_pickled_module(path: str | Path, trust: bool) -> nn.Module:
    """A whole pickled ``nn.Module``; refused unless ``trust`` (unpickling runs code)."""
    path = Path(path)
    _check_file(path)
    if is_safetensors(path):
        raise ModelLoadError(f"{path}: a safetensors file holds weights only, not a model; pass it as the weights "
                             "of an architecture (--model NAME or timm:NAME --weights FILE), or add a model card "
                             f"{path.stem}.json naming its architecture")
    if not trust:
        raise ModelLoadError(
            f"{path}: loading a pickled model runs code from the file; do it only for files you "
            "trust (CLI: --trust)")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelLoadError(f"{path}: could not unpickle ({first_line(exc)})") from None
    if not isinstance(obj, nn.Module):
        hint = " (a state dict: name its architecture and pass the file as weights)" if isinstance(obj, dict) else ""
        raise ModelLoadError(f"{path}: holds a {type(obj).__name__}, not an nn.Module{hint}")
    return obj
