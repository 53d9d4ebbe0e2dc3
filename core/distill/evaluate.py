"""How good is a student: accuracy on fresh images, and how its maps agree with the teacher's
(Pearson correlation at the student's input resolution) and with the ground truth (pointing
game, Zhang et al. 2016 §5.1, as ``core.metrics.localization.pointing_game``: the map's maximum,
mapped back to the rendered image, within 15 px of the object; "in mask": on the object itself).

Both networks run in eval mode; the maps are those of the true class, made by the same method
as the interpretability loss.
"""

from __future__ import annotations

import numpy as np
import torch

from ..metrics.localization import pointing_game
from .data import Batch, to_input
from .maps import pearson, resize_maps, teacher_maps


def _pointing(maps: torch.Tensor, masks: np.ndarray, preprocess, tolerance: float) -> list[float]:
    geometry = preprocess.geometry(*masks.shape[1:3])
    hits = []
    for m, mask in zip(maps.cpu().numpy(), masks):
        hits.append(pointing_game(m, mask, tolerance, geometry).value if mask.any() else float("nan"))
    return hits


def evaluate(student, student_pre, student_layer: str, teacher, teacher_layer: str, data: Batch,
             method: str = "gradcam_pp", batch_size: int = 50, tolerance: float = 15.0,
             device="cpu", teacher_cache: dict | None = None) -> dict:
    """Accuracy of student and teacher, Pearson of their maps, pointing game of each.

    ``teacher`` is a ``ModelBundle``; ``student`` an ``nn.Module`` with ``student_pre`` its
    ``Preprocess``; ``teacher_cache`` (a dict) keeps the teacher's outputs for the next call on
    the same images. Returns plain numbers: means, and the standard deviation over images of the
    Pearson correlation."""
    was_training = student.training
    student.eval()
    correct_s = correct_t = 0
    corr, hits = [], {"student": [], "teacher": [], "student_in_mask": [], "teacher_in_mask": []}
    n = len(data.labels)
    try:
        for start in range(0, n, batch_size):
            images = data.images[start:start + batch_size]
            labels = torch.from_numpy(data.labels[start:start + batch_size]).to(device)
            key = ("eval", n, start, batch_size, teacher_layer, method)
            if teacher_cache is not None and key in teacher_cache:
                t_logits, t_maps = teacher_cache[key]
            else:
                x_t = to_input(images, teacher.preprocess).to(device, memory_format=torch.channels_last)
                with teacher.keep_buffers():
                    t_logits, t_maps = teacher_maps(teacher.net, x_t, teacher_layer, method, labels)
                if teacher_cache is not None:
                    teacher_cache[key] = (t_logits, t_maps)
            x_s = to_input(images, student_pre).to(device)
            s_logits, s_maps = teacher_maps(student, x_s, student_layer, method, labels)
            correct_s += int((s_logits.argmax(1) == labels).sum())
            correct_t += int((t_logits.argmax(1) == labels).sum())
            size = tuple(x_s.shape[-2:])
            s_up, t_up = resize_maps(s_maps, size), resize_maps(t_maps, size)
            corr.append(pearson(s_up, t_up).cpu())
            if data.masks is not None:
                masks = data.masks[start:start + batch_size]
                for who, maps in (("student", s_up), ("teacher", t_up)):
                    hits[who] += _pointing(maps, masks, student_pre, tolerance)
                    hits[f"{who}_in_mask"] += _pointing(maps, masks, student_pre, 1.0)
    finally:
        student.train(was_training)
    corr = torch.cat(corr).numpy()
    out = {"images": n, "accuracy": correct_s / n, "teacher_accuracy": correct_t / n,
           "cam_pearson": float(corr.mean()), "cam_pearson_std": float(corr.std()), "map_method": method}
    if data.masks is not None:
        out.update({f"pointing_game_{k}": float(np.nanmean(v)) for k, v in hits.items()})
        out["pointing_tolerance_px"] = tolerance
    return out
