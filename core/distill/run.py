"""One distillation run from start (or a checkpoint) to a saved student, for the app: train with
checkpoints, measure the student on a few held-out images after every epoch (accuracy and CAM
agreement with the teacher, so curves can be drawn live), evaluate, write ``student.pt`` +
``student.json``. And the teacher's and the student's map of one image side by side.

The CLI's ``distill`` command runs the same steps with its own printing (``core.commands.distill``).
"""

from __future__ import annotations

from pathlib import Path

from .trainer import DistillConfig, Distiller, checkpoint_path, read_checkpoint
from .trainer import resume as resume_distiller

MONITOR_IMAGES = 48   # held-out images measured after every epoch (the final evaluation uses eval_images)


def saved_config(out: str | Path) -> tuple[DistillConfig, dict] | None:
    """(the settings, position) of the checkpoint a run writing ``out`` left, or None."""
    ckpt = checkpoint_path(out)
    if not ckpt.is_file():
        return None
    state = read_checkpoint(ckpt)
    return DistillConfig.from_dict(state["config"]), {"epoch": int(state["epoch"]), "step": int(state["step"]),
                                                        "history": list(state["history"])}


def run(config: DistillConfig | None, teacher, out: str | Path, resume: bool = False, progress=None,
        on_epoch=None, monitor_images: int = MONITOR_IMAGES, device: str = "cpu") -> dict:
    """Train (``resume``: from ``<out stem>.ckpt`` with its own settings; ``config`` must then be
    None or equal), evaluate and save. ``on_epoch(entry)`` receives each epoch's mean loss terms,
    training accuracy and, with ``monitor_images`` > 0, ``monitor_accuracy`` and
    ``monitor_cam_pearson`` on that many held-out images (recorded in the history and the
    checkpoint). A cancel (``progress.cancel()``) saves the checkpoint and raises ``Cancelled``.

    Returns {weights, card, history, evaluation, config, student_layer, teacher_layer}."""
    from .export import save_student

    out = Path(out)
    ckpt = checkpoint_path(out)
    distiller = (resume_distiller(ckpt, teacher, config, device=device) if resume
                 else Distiller(config, teacher, device=device))
    cache: dict = {}
    monitor_images = min(monitor_images, distiller.config.eval_images)

    def epoch_done(entry: dict) -> None:
        if monitor_images > 0:
            measured = distiller.evaluate(monitor_images, teacher_cache=cache)
            entry["monitor_accuracy"] = measured["accuracy"]
            entry["monitor_cam_pearson"] = measured["cam_pearson"]
        if on_epoch is not None:
            on_epoch(dict(entry))

    distiller.train(progress, checkpoint=ckpt, on_epoch=epoch_done)
    if progress is not None:
        progress.message = f"evaluating on {distiller.config.eval_images} fresh images"
    evaluation = distiller.evaluate()
    weights, card = save_student(distiller, out, evaluation)
    return {"weights": weights, "card": card, "history": list(distiller.history), "evaluation": evaluation,
            "config": distiller.config, "student_layer": distiller.student_layer,
            "teacher_layer": distiller.teacher_layer}


def side_by_side(teacher, student, image, method: str, params: dict | None = None, target: int | None = None,
                 teacher_layer: str | None = None, student_layer: str | None = None) -> dict:
    """The same method's map of one image from the teacher and from the student (``ModelBundle``s;
    ``image``: H×W×3 uint8), for the same class (``target``; default the teacher's prediction).
    Returns {"teacher": ..., "student": ...}, each {display, map, label, probability, layer}."""
    from ..explain import Explainer
    from ..layers import default_layer
    from ..methods import get_method
    from ..targets import ClassTarget

    spec = get_method(method)
    out = {}
    for who, bundle, layer in (("teacher", teacher, teacher_layer), ("student", student, student_layer)):
        explainer = Explainer(bundle, image)
        if target is None:
            target = explainer.prediction[0][0]
        layer = (layer or default_layer(bundle)) if spec.needs_layer else None
        result = explainer.explain(method, target=ClassTarget(int(target)), layer=layer, params=dict(params or {}))
        probability = dict((i, p) for i, _, p in explainer.prediction).get(int(target))
        out[who] = {"display": result.image, "map": result.map, "label": bundle.label(int(target)),
                    "probability": probability, "layer": layer,
                    "predicted": explainer.prediction[0][1]}
    return out
