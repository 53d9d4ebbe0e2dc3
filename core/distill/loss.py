"""The distillation objective of Grad-CAM++ §7 ("learning from explanations"):

    L = CE(y, s) + α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + β·‖ĉ_s − ĉ_t‖²₂

* CE: cross-entropy of the student's logits s with the labels y.
* KD: Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network", §2: the
  KL divergence between the temperature-softened teacher and student distributions, times T²
  so that its gradients keep their size as T changes.
* interp: Chattopadhay et al. 2018, Grad-CAM++, §7: the squared L2 distance between the teacher's
  and the student's explanation maps of the same class (the true class by default, or the
  teacher's prediction), Grad-CAM++ by default. Both maps are upsampled bilinearly to the larger
  of their two resolutions, then each is divided by its L2 norm before the distance is taken.
  The paper writes the term as ‖L_t − L_s‖²₂ without spelling out a scale; a scale is needed
  because teacher and student maps have unrelated magnitudes. Our choice: unit-L2-norm maps, the
  usual scale for matching spatial maps in distillation (attention transfer, Zagoruyko &
  Komodakis 2017), so the term lies in [0, 2] for non-negative maps whatever the resolution.
  ``norm="max"`` (maps scaled to a maximum of 1) and ``"none"`` are options.

Defaults: α = 1 and T = 4, a common setting; β = 10, fixed before any
experiment so that β·interp (≈ 0.6 for a fresh student) starts about as large as the KD term
(≈ 10 on the demo teacher) rather than negligible next to it.

Each term is averaged over the batch; a term whose weight is 0 or that is not selected is not
computed at all (no teacher forward for CE alone, no second-order graph without interp).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.adapters import to_logits
from .maps import METHODS, NORMS, common_size, normalise, resize_maps, student_maps

TERMS = ("ce", "kd", "interp")


@dataclass(frozen=True)
class LossConfig:
    """Which terms, their weights, the temperature and how the maps are made."""

    losses: tuple[str, ...] = TERMS
    alpha: float = 1.0
    beta: float = 10.0
    temperature: float = 4.0
    method: str = "gradcam_pp"      # gradcam_pp | gradcam | cam
    map_class: str = "true"         # true | teacher (the teacher's predicted class)
    norm: str = "l2"                # l2 | max | none

    def __post_init__(self):
        unknown = [t for t in self.losses if t not in TERMS]
        if unknown or not self.losses:
            raise ValueError(f"losses must be a non-empty selection of {', '.join(TERMS)}, got {self.losses}")
        if self.method not in METHODS:
            raise ValueError(f"map method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.map_class not in ("true", "teacher"):
            raise ValueError(f"map class must be 'true' or 'teacher', got {self.map_class!r}")
        if self.norm not in NORMS:
            raise ValueError(f"map normalisation must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.temperature <= 0 or self.alpha < 0 or self.beta < 0:
            raise ValueError("the temperature must be positive and alpha, beta non-negative")

    def uses(self, term: str) -> bool:
        weight = {"ce": 1.0, "kd": self.alpha, "interp": self.beta}[term]
        return term in self.losses and weight > 0

    @property
    def needs_teacher(self) -> bool:
        return self.uses("kd") or self.uses("interp")


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T²·KL(softmax(t/T) ‖ softmax(s/T)), averaged over the batch (Hinton et al. 2015)."""
    t = temperature
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits.to(student_logits.dtype) / t, dim=1)
    return (t * t) * F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)


def interp_loss(student_maps_: torch.Tensor, teacher_maps_: torch.Tensor, norm: str = "l2") -> torch.Tensor:
    """‖ĉ_s − ĉ_t‖²₂ per image (summed over pixels), averaged over the batch: both N×h×w
    stacks upsampled to their common size and normalised by ``norm``."""
    size = common_size(student_maps_, teacher_maps_)
    s = normalise(resize_maps(student_maps_, size), norm)
    t = normalise(resize_maps(teacher_maps_.to(s.dtype), size), norm)
    return (s - t).pow(2).flatten(1).sum(1).mean()


def distill_loss(student, x: torch.Tensor, labels: torch.Tensor, config: LossConfig, layer: str,
                 teacher_logits: torch.Tensor | None = None, teacher_maps: torch.Tensor | None = None,
                 ) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """(total loss, {term: unweighted value, "total": weighted sum}, student logits) for one batch.

    ``teacher_logits`` are needed for KD and for ``map_class="teacher"``; ``teacher_maps``
    (N×h×w, of the classes ``config.map_class`` names) for the interpretability term."""
    interp = config.uses("interp")
    if interp:
        classes = labels if config.map_class == "true" else teacher_logits.argmax(1)
        logits, maps = student_maps(student, x, layer, config.method, classes, create_graph=True)
    else:
        logits = to_logits(student(x))
    terms: dict[str, torch.Tensor] = {}
    if config.uses("ce"):
        terms["ce"] = F.cross_entropy(logits, labels)
    if config.uses("kd"):
        terms["kd"] = kd_loss(logits, teacher_logits, config.temperature)
    if interp:
        terms["interp"] = interp_loss(maps, teacher_maps, config.norm)
    weights = {"ce": 1.0, "kd": config.alpha, "interp": config.beta}
    total = sum(weights[k] * v for k, v in terms.items())
    values = {k: float(v.detach()) for k, v in terms.items()}
    values["total"] = float(total.detach())
    return total, values, logits
