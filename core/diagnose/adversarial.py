"""Adversarial noise: how fragile are a decision and its explanation?

FGSM (Goodfellow et al. 2015, eq. 3) and PGD (Madry et al. 2018, eq. 2 with a random start),
L∞ or L2, untargeted or targeted, in *pixel* space ([0, 1], ε in pixel units such as 4/255),
clamped to the valid range and re-normalised for the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..explain import Explainer, Explanation
from ..jobs import Progress, ensure_progress
from ..methods import get_method
from ..metrics.robustness import spearman, ssim, topk_intersection
from ..render import grid, overlay
from ..targets import ClassTarget, Target

NORMS = ("linf", "l2")


@dataclass
class AttackResult:
    x: torch.Tensor  # adversarial model input (normalised), 1×C×H×W
    pixels: np.ndarray  # adversarial image, H×W×3 uint8
    delta: np.ndarray  # perturbation in pixel units, H×W×C float32
    before: tuple[int, float]  # (class, probability) on the clean input
    after: tuple[int, float]  # (class, probability) on the adversarial input
    label_prob_after: float  # probability of the attacked (or targeted) class afterwards
    success: bool
    norm: float  # achieved ‖δ‖ in the chosen norm (pixel units)


def _uint8_image(pixels: torch.Tensor) -> np.ndarray:
    """1×C×H×W pixels in [0, 1] → H×W×3 uint8 (a single channel is repeated)."""
    img = (pixels[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img)


def input_image(bundle, x: torch.Tensor) -> np.ndarray:
    """The H×W×3 uint8 picture of a prepared (normalised) model input ``x``, aligned with it:
    un-normalised only, never resized or cropped."""
    return _uint8_image(bundle.preprocess.input_to_pixels(x.detach()))


def _step_direction(g: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return g.sign()
    flat = g.flatten(1).norm(dim=1).clamp(min=1e-12)
    return g / flat.view(-1, *([1] * (g.ndim - 1)))


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = delta.flatten(1).norm(dim=1).clamp(min=1e-12)
    return delta * (eps / n).clamp(max=1.0).view(-1, *([1] * (delta.ndim - 1)))


def attack(bundle, x: torch.Tensor, epsilon: float, method: str = "pgd", norm: str = "linf", steps: int = 10,
           step_size: float | None = None, target: int | None = None, label: int | None = None,
           random_start: bool = True, seed: int = 0, progress: Progress | None = None) -> AttackResult:
    """Attack ``x`` (normalised model input). Untargeted: raise the loss of ``label`` (default the
    predicted class); targeted: lower the loss of ``target``. ``step_size`` defaults to 2.5·ε/steps."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}")
    if method not in ("fgsm", "pgd"):
        raise ValueError("method must be fgsm or pgd")
    pre = bundle.preprocess
    x = x.detach().to(bundle.device)
    pixels = pre.input_to_pixels(x).clamp(0, 1)
    with torch.inference_mode():
        probs = bundle.probabilities(bundle(x))[0]
    before = (int(probs.argmax()), float(probs.max()))
    label = before[0] if label is None else int(label)
    goal = torch.tensor([target if target is not None else label], device=x.device)
    sign = -1.0 if target is not None else 1.0  # targeted: descend on the target's loss
    if method == "fgsm":
        steps, step_size, random_start = 1, epsilon, False
    step_size = step_size if step_size is not None else 2.5 * epsilon / steps
    gen = torch.Generator().manual_seed(seed)
    delta = torch.zeros_like(pixels)
    if random_start:
        noise = (torch.rand(pixels.shape, generator=gen) * 2 - 1).to(x.device) * epsilon
        delta = _project(noise, epsilon, norm)
        delta = (pixels + delta).clamp(0, 1) - pixels
    progress = ensure_progress(progress, steps)
    for _ in range(steps):
        delta = delta.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(bundle(pre.pixels_to_input(pixels + delta)).float(), goal)
            (g,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = _project(delta + sign * step_size * _step_direction(g, norm), epsilon, norm)
            delta = (pixels + delta).clamp(0, 1) - pixels
        progress.step()
    adv_pixels = (pixels + delta).clamp(0, 1).detach()
    adv = pre.pixels_to_input(adv_pixels)
    with torch.inference_mode():
        adv_probs = bundle.probabilities(bundle(adv))[0]
    after = (int(adv_probs.argmax()), float(adv_probs.max()))
    success = after[0] == target if target is not None else after[0] != label
    achieved = float(delta.abs().max() if norm == "linf" else delta.flatten().norm())
    return AttackResult(adv, _uint8_image(adv_pixels),
                        delta[0].permute(1, 2, 0).cpu().numpy().astype(np.float32), before, after,
                        float(adv_probs[goal[0]]), bool(success), achieved)


def explanation_shift(map_before, map_after, topk: float = 0.1) -> dict[str, float]:
    """How much an explanation moved: Spearman, top-k% overlap, SSIM."""
    return {"spearman": spearman(map_before, map_after), "topk_intersection": topk_intersection(map_before, map_after, topk),
            "ssim": ssim(map_before, map_after)}


@dataclass
class AttackExplanation:
    """The same method on the clean input and on the exact adversarial input ``result.x``."""

    method: str
    result: AttackResult
    clean: Explanation
    adversarial: Explanation  # computed on result.x, shown on result.pixels
    shift: dict[str, float]


def _as_target(target: Target | int | None, default: int) -> Target:
    if target is None:
        return ClassTarget(default)
    return ClassTarget(int(target)) if isinstance(target, (int, np.integer)) else target


def explain_attack(bundle, x_clean: torch.Tensor | Explainer, result: AttackResult, method: str = "gradcam",
                   target: Target | int | None = None, layer: str | None = None,
                   params: dict[str, Any] | None = None, seed: int = 0,
                   progress: Progress | None = None) -> AttackExplanation:
    """Explain the clean input and the adversarial input of ``result`` with ``method`` for one
    ``target`` (default: the clean prediction), and how far the map moved.

    The adversarial explanation runs on ``result.x`` itself, never on a re-preprocessed
    ``result.pixels`` (which would be resized and cropped again). ``x_clean``: the clean model
    input, or an ``Explainer`` already holding it (its display image and capture cache are reused).
    """
    if isinstance(x_clean, Explainer):
        clean_ex = x_clean
    else:
        clean_ex = Explainer.from_input(bundle, x_clean, input_image(bundle, x_clean))
    if tuple(clean_ex.x.shape) != tuple(result.x.shape):
        raise ValueError(f"the attack is on a {tuple(result.x.shape)} input, "
                         f"the clean one is {tuple(clean_ex.x.shape)}")
    adv_ex = Explainer.from_input(bundle, result.x, result.pixels)
    target = _as_target(target, result.before[0])
    clean = clean_ex.explain(method, target=target, layer=layer, params=params, seed=seed, progress=progress)
    adversarial = adv_ex.explain(method, target=target, layer=layer, params=params, seed=seed, progress=progress)
    return AttackExplanation(method, result, clean, adversarial, explanation_shift(clean.map, adversarial.map))


def to_map(m) -> np.ndarray:
    """An attribution map as float32 numpy, from numpy or a tensor on any device."""
    if isinstance(m, torch.Tensor):
        m = m.detach().to("cpu", torch.float32).numpy()
    return np.asarray(m, dtype=np.float32)


def map_function(method: str = "gradcam", target: Target | int | None = None, layer: str | None = None,
                 params: dict[str, Any] | None = None, seed: int = 0):
    """``map_fn(bundle, x)`` for ``epsilon_sweep``: the ``method`` map (float32 numpy) of the exact
    input ``x`` for ``target`` (``None``: each input's own top class; ``epsilon_sweep`` fixes it to
    the clean prediction). The function carries ``.method``."""

    def map_fn(bundle, x):
        ex = Explainer.from_input(bundle, x, input_image(bundle, x))
        return ex.explain(method, target=_as_target(target, ex.prediction[0][0]), layer=layer, params=params,
                          seed=seed).map

    map_fn.method = method
    return map_fn


def amplified(delta: np.ndarray) -> np.ndarray:
    """The perturbation made visible: mapped symmetrically around grey, stretched to full range."""
    peak = float(np.abs(delta).max()) or 1.0
    return (np.clip(0.5 + 0.5 * delta / peak, 0, 1) * 255 + 0.5).astype(np.uint8)


def epsilon_sweep(bundle, x: torch.Tensor, epsilons, map_fn="gradcam", progress: Progress | None = None,
                  **attack_args):
    """For each ε: confidence in the original class after the attack and the explanation shift.

    ``map_fn``: a registered method name (its default-parameter map for the clean prediction),
    or a callable ``map_fn(bundle, x)`` returning the map as numpy or a tensor on any device,
    such as ``map_function(method, target, layer, params)``. ``attack_args`` go to ``attack``
    (its ``method`` is fgsm/pgd, its ``target`` the attack's goal class). Returns a list of
    dicts; each names the explanation ``method`` used."""
    if isinstance(map_fn, str):
        map_fn = map_function(map_fn, bundle.predict(x, k=1)[0][0])
    name = getattr(map_fn, "method", getattr(map_fn, "__name__", "custom"))
    base = to_map(map_fn(bundle, x))
    rows = []
    progress = ensure_progress(progress, len(epsilons))
    for eps in epsilons:
        res = attack(bundle, x, eps, **attack_args)
        with torch.inference_mode():
            p = float(bundle.probabilities(bundle(res.x))[0, res.before[0]])
        rows.append({"epsilon": float(eps), "confidence": p, "predicted": res.after[0], "success": res.success,
                     "method": name, **explanation_shift(base, to_map(map_fn(bundle, res.x)))})
        progress.step()
    return rows


def epsilon_from_255(eps_255: float, norm: str, x: torch.Tensor) -> float:
    """ε in /255 units → the attack's ε in pixel units for input ``x``: the per-pixel bound for
    L∞; for L2 ``eps_255`` is the RMS size per pixel value, scaled to a whole-image norm by
    √(C·H·W) so that one number means about the same for any input size."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}")
    if not eps_255 >= 0:
        raise ValueError(f"epsilon must be ≥ 0 (in /255 units), got {eps_255}")
    eps = float(eps_255) / 255
    if norm == "l2":  # RMS per pixel → whole-image L2 norm
        eps *= float(np.sqrt(x[0].numel()))
    return eps


def attack_and_explain(bundle, clean: torch.Tensor | Explainer, epsilon: float, attack_method: str = "pgd",
                       norm: str = "linf", steps: int = 10, goal: int | None = None, method: str = "gradcam",
                       target: Target | int | None = None, layer: str | None = None,
                       params: dict[str, Any] | None = None, seed: int = 0,
                       progress: Progress | None = None) -> AttackExplanation:
    """``attack`` (``goal``: the class of a targeted attack) then ``explain_attack`` with ``method``
    for ``target`` (default: the clean prediction): the desktop's attack view and the CLI's
    ``attack`` command. ``epsilon`` is in pixel units (see ``epsilon_from_255``)."""
    if get_method(method).output == "image":
        raise ValueError(f"{method} synthesises an image; it has no map of the attacked input")
    x = clean.x if isinstance(clean, Explainer) else clean
    res = attack(bundle, x, epsilon, attack_method, norm, steps, target=goal, seed=seed, progress=progress)
    return explain_attack(bundle, clean, res, method, target, layer, params, seed=seed)


def _grid_scale(image: np.ndarray) -> int:
    return 1 if image.shape[0] > 160 else 2


def attack_grid(bundle, shown: AttackExplanation, alpha: float = 0.5, cmap: str | None = None) -> np.ndarray:
    """Three captioned panels: the clean overlay, the attacked overlay, the amplified perturbation
    (``cmap``: a ``core.render`` colormap, default its default)."""
    res, after = shown.result, shown.adversarial.prediction[0]
    style = {"cmap": cmap} if cmap else {}
    panels = [(f"clean: {bundle.label(res.before[0])} {res.before[1]:.0%}",
               overlay(shown.clean.image, shown.clean.map, alpha, **style)),
              (f"attacked: {after[1]} {after[2]:.0%}", overlay(shown.adversarial.image, shown.adversarial.map, alpha,
                                                              **style)),
              ("perturbation (amplified)", amplified(res.delta))]
    return grid(panels, cols=3, scale=_grid_scale(shown.clean.image))


def attack_summary(bundle, shown: AttackExplanation) -> dict[str, Any]:
    """What the attack view reports, JSON-ready: both predictions, success, achieved ‖δ‖ in /255
    (``norm_255``, in the attack's norm; ``rms_255``, per pixel value, comparable with an L2 ε), the
    probability after the attack of the attacked class (untargeted) or of the goal (targeted), the
    explained class and the explanation shift."""
    res = shown.result

    def cls(index: int, probability: float) -> dict[str, Any]:
        return {"index": int(index), "label": bundle.label(int(index)), "probability": float(probability)}

    target = shown.clean.target
    return {"clean": cls(*res.before), "attacked": cls(*res.after), "success": res.success,
            "class_probability_after": res.label_prob_after, "norm_255": res.norm * 255,
            "rms_255": float(np.sqrt(np.mean(np.square(res.delta, dtype=np.float64)))) * 255,
            "method": shown.method, "layer": shown.clean.layer, "params": shown.clean.params,
            "explained": {"index": getattr(target, "index", None), "label": shown.clean.target_label},
            "shift": {k: float(v) for k, v in shown.shift.items()}}
