"""Small adapters between the desktop and ``core``: each names one core API the GUI uses, so
the desktop code has one place to follow when that API changes. Nothing here imports torch at
module import (the window must show before torch loads); core modules are imported on first use.
No engine work lives here: every function forwards to a core function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

DEFAULT_METHOD = "gradcam"  # the one startup default the desktop names
HEADLINE_METRIC = "deletion"  # the number shown under each Compare cell (cost: one curve)


# ----- methods (core.methods registry) -----
def methods() -> dict:
    from core.methods import REGISTRY

    return REGISTRY


def method_spec(name: str):
    from core.methods import get_method

    return get_method(name)


def is_instant(spec) -> bool:
    """Reruns by itself on every change (registry cost class "instant")."""
    return bool(spec.auto_run)


def makes_map(spec) -> bool:
    """The method's result is a map over the input (registry ``output``; "image": synthesised)."""
    return spec.output == "map"


def map_method(session) -> str:
    """The method whose maps diagnosis and bias views show: the selected one when it makes a map."""
    return session.method if makes_map(session.spec()) else DEFAULT_METHOD


def passes(spec, input_hw=(128, 128)) -> int:
    """Network passes of the method at its defaults (registry)."""
    return int(spec.passes(None, tuple(input_hw)))


def estimate_text(spec, values: dict, input_hw, seconds_per_pass: float | None) -> str:
    """"≈ 12 s" from the registry's pass count × the measured time per pass ("" if unknown)."""
    from core.methods import estimate_seconds, format_seconds

    if seconds_per_pass is None:
        return f"takes {getattr(spec, 'cost', 'a while')}"
    return format_seconds(estimate_seconds(spec, values, tuple(input_hw), seconds_per_pass))


def class_target(index: int | None, bundle=None):
    """The class target the GUI explains: the bundle's own score kind (sigmoid for multi-label heads)."""
    from core.targets import ClassTarget

    return None if index is None else ClassTarget(int(index), getattr(bundle, "class_kind", "logit"))


def as_array(m) -> np.ndarray:
    """A map from a worker (tensor or array) as a float32 numpy array."""
    if hasattr(m, "detach"):
        m = m.detach().float().cpu().numpy()
    return np.asarray(m, np.float32)


# ----- models and images (core.models, core.explain) -----
def devices() -> list[str]:
    import torch

    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out.append("mps")
    return out


def load_model_and_image(spec, weights, trust, inputs, device, image: Path | None, progress):
    """core.models.load_model + the layer table + the default layer; then the image prepared for
    the new model (its error as a sentence, so a bad image does not fail the model load)."""
    from core.capture import LayerError
    from core.layers import default_layer, layer_table
    from core.messages import first_line
    from core.models import load_model

    bundle = load_model(spec, weights, trust=trust, device=device, progress=progress, inputs=inputs)
    table = layer_table(bundle)
    try:
        layer = default_layer(bundle, table)
    except LayerError:  # TorchScript or no spatial layer: gradient and perturbation methods only
        layer = None
    explainer, error = None, ""
    if image is not None:
        try:
            explainer = prepare_image(bundle, image)
        except Exception as exc:  # noqa: BLE001 - reported beside the loaded model
            error = first_line(exc)
    return {"bundle": bundle, "table": table, "layer": layer}, explainer, error


def seconds_per_pass(bundle, batch: int = 16) -> float | None:
    """Seconds per image of a batched forward pass (``ModelBundle.fast_logits``, as the slow
    methods and metrics run), for the "≈ N s" estimates. Also builds the fused twin now, while
    the model loads: tracing it is pure Python and holds the GIL (~0.2 s), which would stall the
    window if it happened at the first perturbation run instead."""
    import time

    import torch

    try:
        h, w = bundle.preprocess.crop
        x = torch.zeros(batch, getattr(bundle.preprocess, "channels", 3), h, w, device=bundle.device)
        with torch.inference_mode():
            bundle.fast_logits(x[:1])  # builds the twin
            t0 = time.perf_counter()
            bundle.fast_logits(x)
            if bundle.device.type == "cuda":
                torch.cuda.synchronize()
        return (time.perf_counter() - t0) / batch
    except Exception:  # noqa: BLE001 - an estimate only; the explainer's predict time stands in
        return None


def prepare_image(bundle, path: Path):
    from core.explain import Explainer
    from core.images import load_image

    return Explainer(bundle, load_image(path), prefetch=True)


def image_suffixes() -> set[str]:
    from core.images import IMAGE_SUFFIXES

    return set(IMAGE_SUFFIXES)


def inputs_to_dict(inputs) -> dict | None:
    if inputs is None:
        return None
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(inputs).items() if v not in (None, "")}


def inputs_from_dict(data: dict | None):
    if not data:
        return None
    from core.models import InputSpec

    return InputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def private_copy(bundle):
    """A copy of the model for the background lane, so a long run never shares forward hooks
    with the interactive lane's captures (hooks are per module, not per thread). A copy taken
    while the interactive lane adds or removes a hook can fail with "dictionary changed size
    during iteration": it is then taken again (``desktop.dataset_jobs`` avoids the overlap)."""
    import copy
    import time

    for attempt in range(50):
        try:
            twin = copy.deepcopy(bundle)
            break
        except RuntimeError as exc:
            if "changed size during iteration" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.02)
    for module in twin.net.modules():
        for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks"):
            getattr(module, hooks, {}).clear()
    return twin


# ----- metrics (core.metrics.registry) -----
def metric_specs() -> dict:
    from core.metrics.registry import all_metrics

    return all_metrics()


class Truth(NamedTuple):
    """An image's ground truth: box and mask in model-input pixels, label, and the mask in the
    original image's pixels with the crop geometry (for the original-image pointing game)."""

    box: Any = None
    mask: Any = None
    label: Any = None
    original_mask: Any = None
    geometry: Any = None


def ground_truth(bundle, image_path: Path | None) -> Truth:
    """The ground truth of the image from a ``ground_truth.json`` beside it, or an empty Truth."""
    from core.evaluate import read_annotations

    gt = image_path.parent / "ground_truth.json" if image_path else None
    if gt is None or not gt.is_file():
        return Truth()
    try:
        truth = read_annotations(gt).get(image_path.name)
    except (OSError, ValueError):
        return Truth()
    if truth is None:
        return Truth()
    from core.images import load_image

    h, w = load_image(image_path).shape[:2]
    box = bundle.preprocess.map_box(truth.box, h, w) if truth.box else None
    mask = bundle.preprocess.map_mask(truth.mask) if truth.mask is not None else None
    return Truth(box, mask, truth.label, truth.mask, bundle.preprocess.geometry(h, w))


def metric_input(explainer, result, truth, progress=None):
    from core.diagnose.adversarial import map_function
    from core.metrics.registry import MetricInput

    truth = Truth(*truth)
    target = getattr(result.target, "index", None)
    inp = MetricInput(bundle=explainer.bundle, x=explainer.x, map=result.map, target=target, box=truth.box,
                      mask=truth.mask, label=truth.label, predicted=explainer.prediction[0][0],
                      map_fn=map_function(result.method, target, result.layer, result.params),
                      original_mask=truth.original_mask, geometry=truth.geometry)
    if progress is not None:
        inp.progress = progress
    return inp


def score(explainer, result, names: list[str], truth, progress) -> dict[str, Any]:
    """{metric name: MetricResult} of the metrics in ``names`` that this input can be scored
    by (those lacking ground truth are skipped), via ``MetricSpec.run``."""
    specs = metric_specs()
    inp = metric_input(explainer, result, truth, progress)
    out = {}
    for name in names:
        spec = specs[name]
        if spec.missing(inp) is None:
            out[name] = spec.run(inp)
    return out


def metric_passes(names: list[str], input_hw) -> int:
    specs = metric_specs()
    return sum(int(specs[n].cost(tuple(input_hw), specs[n].resolve({}))) for n in names)


# ----- diagnosis (core.diagnose) -----
def occluder(bundle, x, fill: str):
    from core.diagnose.occlude import Occluder

    return Occluder(bundle, x, fill)


def _epsilon(args: dict, x) -> float:
    from core.diagnose import adversarial

    return adversarial.epsilon_from_255(args["epsilon_255"], args["norm"], x)


def attack(explainer, args: dict, method: str, target: int, layer, params, progress):
    """core.diagnose.adversarial.attack_and_explain + attack_summary: (AttackExplanation, summary
    dict, amplified perturbation image)."""
    from core.diagnose import adversarial

    shown = adversarial.attack_and_explain(explainer.bundle, explainer, _epsilon(args, explainer.x), args["method"],
                                           args["norm"], args["steps"], args["target"], method,
                                           class_target(target, explainer.bundle), layer, params, progress=progress)
    return shown, adversarial.attack_summary(explainer.bundle, shown), adversarial.amplified(shown.result.delta)


def epsilon_sweep(explainer, args: dict, method: str, target: int, layer, params, steps_255, progress):
    """core.diagnose.adversarial.epsilon_sweep over ``steps_255`` (ε in /255 units) for ``method``."""
    from core.diagnose import adversarial

    epsilons = [_epsilon({**args, "epsilon_255": e}, explainer.x) for e in steps_255]
    rows = adversarial.epsilon_sweep(explainer.bundle, explainer.x, epsilons,
                                     adversarial.map_function(method, class_target(target, explainer.bundle), layer, params), progress,
                                     method=args["method"], norm=args["norm"], steps=args["steps"],
                                     target=args["target"])
    for row, e in zip(rows, steps_255):
        row["epsilon_255"] = e
    return rows


# ----- dataset (core.diagnose scan, bias, counterfactual) -----
def scan_folder(bundle, source: str, progress):
    from core.diagnose.scan import read_labelled, scan

    return scan(bundle, read_labelled(source, bundle.labels or []), progress=progress)


def bias_over_folder(bundle, folder: str, method: str, layer, params, region, progress):
    from core.diagnose.bias import bias_over_folder as run

    return run(bundle, folder, method=method, layer=layer, params=params, region=region, progress=progress)


def counterfactual(bundle, file: str, predicted: int, true_class: int, method: str, layer, params, progress):
    from core.diagnose.counterfactual import counterfactual as run

    return run(bundle, file, predicted, true_class, method, layer, params, progress=progress)
