"""Is a long-running process still healthy? Resident memory, hooks left on models, models that
should have been freed — and ``soak``, which loads models in turn and explains with each, as a
person does in one long session of the app.

Used by tests/test_health.py (a few models, tiny inputs) and bench/bench_health.py (20 models,
500 explanations).
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def resident_bytes() -> int | None:
    """This process's resident memory after a garbage collection (and, with glibc, after freed
    heap pages are handed back), or ``None`` where /proc is not available."""
    gc.collect()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


def hooks_left(net: nn.Module) -> list[str]:
    """Every forward/backward hook still registered on ``net``'s modules and parameters, and the
    global module hooks and torch-function modes (guided backprop's ReLU override) still active."""
    found = []
    for name, module in net.named_modules():
        for attr in _HOOK_DICTS:
            if getattr(module, attr, None):
                found.append(f"{name or 'model'}.{attr} ({len(getattr(module, attr))})")
    for name, param in net.named_parameters():
        if getattr(param, "_backward_hooks", None):
            found.append(f"parameter {name} has tensor hooks")
    return found + global_hooks_left()


def global_hooks_left() -> list[str]:
    from torch.nn.modules import module as torch_module

    found = [attr for attr in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                               "_global_backward_pre_hooks") if getattr(torch_module, attr, None)]
    if torch._C._len_torch_function_stack():
        found.append("a torch function mode is still active")
    return found


@dataclass
class SoakReport:
    """What ``soak`` saw: resident memory after each cycle (bytes), models loaded, explanations
    run, hooks left after each model's use, and models still alive after being replaced."""

    rss: list[int | None] = field(default_factory=list)
    gpu: list[int] = field(default_factory=list)  # CUDA memory allocated after each cycle (bytes), if used
    models: int = 0
    explanations: int = 0
    hooks: list[str] = field(default_factory=list)
    not_freed: list[str] = field(default_factory=list)

    @property
    def growth(self) -> float | None:
        """Resident memory after the last cycle relative to after the first (1.0: no growth)."""
        if len(self.rss) < 2 or not self.rss[0] or self.rss[-1] is None:
            return None
        return self.rss[-1] / self.rss[0]


def soak(sources: list[dict], image: np.ndarray, cycles: int, per_model: int,
         methods: tuple[str, ...] = ("gradcam", "saliency", "layercam", "input_x_gradient", "gradcam_pp"),
         on_model: Callable | None = None, progress=None) -> SoakReport:
    """Load each of ``sources`` (keyword arguments of ``core.models.load_model``) in turn, ``cycles``
    times, and run ``per_model`` explanations with each (methods in turn, each on another class so
    that every one is a real forward and backward pass), the way the app replaces one model by the
    next. ``on_model(bundle)`` sees each bundle (a test can leak one on purpose)."""
    from .explain import Explainer
    from .models import load_model
    from .targets import ClassTarget

    report = SoakReport()
    for _ in range(cycles):
        for source in sources:
            bundle = load_model(**source)
            if on_model is not None:
                on_model(bundle)
            explainer = Explainer(bundle, image, prefetch=False)
            classes = len(bundle.labels) if bundle.labels else 2
            for i in range(per_model):
                explainer.explain(methods[i % len(methods)], target=ClassTarget(i % classes))
                report.explanations += 1
                if progress is not None:
                    progress.step()
            report.hooks += [f"{bundle.name}: {h}" for h in hooks_left(bundle.net)]
            alive, name = weakref.ref(bundle.net), bundle.name
            del explainer, bundle
            if alive() is not None:  # not freed by reference counting alone: collect cycles, then judge
                gc.collect()
            report.models += 1
            if alive() is not None:
                report.not_freed.append(name)
        report.rss.append(resident_bytes())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            report.gpu.append(torch.cuda.memory_allocated())
    return report
