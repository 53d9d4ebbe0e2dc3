"""The Distill workspace's calls into ``core.distill`` (one place to follow when that API changes).
Core modules are imported on first use; every function forwards to core."""

from __future__ import annotations

from pathlib import Path


def presets() -> list[str]:
    """The named ShapesNet students (``core.distill.students.PRESETS``), smallest last."""
    from core.distill.students import PRESETS

    return list(PRESETS)


def preset_size(name: str) -> str:
    """"widths (16, 32, 64, 96), 1 conv per stage" for a preset; "" for another name."""
    from core.distill.students import PRESETS

    if name not in PRESETS:
        return ""
    widths, depth = PRESETS[name]
    return f"widths {widths}, {depth} conv{'s' if depth > 1 else ''} per stage"


def default_output() -> Path:
    """Where a student is saved unless the user says otherwise: the app's data folder."""
    from core.paths import user_dirs

    return user_dirs().data / "students" / "student.pt"


def map_methods() -> tuple[str, ...]:
    from core.distill.maps import METHODS

    return METHODS


def defaults():
    """A ``DistillConfig`` with every default (the form starts from it)."""
    from core.distill.trainer import DistillConfig

    return DistillConfig()


def make_config(**values):
    """A checked ``DistillConfig`` (``ValueError`` with a readable sentence when something does not fit)."""
    from core.distill.trainer import DistillConfig

    return DistillConfig(**values)


def checkpoint_of(out: str | Path) -> Path:
    from core.distill.trainer import checkpoint_path

    return checkpoint_path(out)


def saved_run(out: str | Path):
    """(config, {epoch, step, history}) of the checkpoint next to ``out``, or None."""
    from core.distill.run import saved_config

    return saved_config(out)


def _teacher(spec: str, session_bundle, session_spec: str | None, device: str):
    if session_bundle is not None and spec == session_spec:
        from .adapters import private_copy

        return private_copy(session_bundle)
    from core.models import load_model

    return load_model(spec, device=device)


def train(config, out: str, resume: bool, session_bundle, session_spec: str | None, device: str, progress,
          on_epoch) -> dict:
    """``core.distill.run.run`` with the teacher the config (or, resuming, the checkpoint) names:
    a private copy of the session's model when it is that model, else loaded by name."""
    from core.distill.run import run, saved_config

    spec = config.teacher if config is not None else saved_config(out)[0].teacher
    teacher = _teacher(spec, session_bundle, session_spec, device)
    return run(None if resume else config, teacher, out, resume=resume, progress=progress, on_epoch=on_epoch,
               device=device)


def teacher_and_student(teacher_spec: str, session_bundle, session_spec: str | None, student: str | Path,
                        image: str | Path, method: str, params: dict, target: int | None,
                        teacher_layer: str | None, device: str) -> dict:
    """The same method's map of ``image`` by the teacher and by the saved student
    (``core.distill.run.side_by_side``)."""
    import json

    from core.distill.run import side_by_side
    from core.images import load_image
    from core.models import load_model

    teacher = _teacher(teacher_spec, session_bundle, session_spec, device)
    bundle = load_model(str(student), device=device)
    card = Path(student).with_suffix(".json")
    student_layer = json.loads(card.read_text(encoding="utf-8")).get("layer") if card.is_file() else None
    return side_by_side(teacher, bundle, load_image(Path(image)), method, params, target,
                        teacher_layer if teacher_spec == session_spec else None, student_layer)
