"""Distillation training (core.distill.trainer): the interpretability term pulls the student's
maps toward the teacher's; a cancelled run resumes from its checkpoint to the same result as an
uninterrupted one. Tiny students, 64 px inputs, a handful of steps."""

import pytest
import torch

from core.distill.data import ShapesStream, to_input
from core.distill.loss import interp_loss
from core.distill.maps import teacher_maps
from core.distill.trainer import DistillConfig, Distiller, checkpoint_path, read_checkpoint, resume
from core.jobs import Cancelled, Progress


@pytest.fixture(scope="module")
def teacher():
    from core.models import load_model

    return load_model("demo")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _map_distance(d: Distiller, images, labels) -> float:
    labels = torch.from_numpy(labels)
    _, t = teacher_maps(d.teacher.net, to_input(images, d.teacher.preprocess), d.teacher_layer, "gradcam_pp", labels)
    d.student.eval()
    _, s = teacher_maps(d.student, to_input(images, d.preprocess), d.student_layer, "gradcam_pp", labels)
    return float(interp_loss(s, t))


def test_interp_term_moves_student_maps_toward_the_teachers(teacher):
    held = ShapesStream(128).evaluation(24)
    cache: dict = {}
    distances = {}
    for beta in (0.0, 10.0):
        cfg = DistillConfig(student="shapesnet-tiny", losses=("ce", "kd", "interp"), beta=beta, epochs=1,
                            images_per_epoch=6 * 16, batch_size=16, image_size=64, lr=1e-2, seed=3)
        d = Distiller(cfg, teacher, teacher_cache=cache)
        if beta == 0:
            before = _map_distance(d, held.images, held.labels)
        history = d.train()
        assert ("interp" in history[0]) == (beta > 0)
        distances[beta] = _map_distance(d, held.images, held.labels)
    assert distances[10.0] < distances[0.0] - 0.05, (before, distances)
    assert distances[10.0] < before


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _without_seconds(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_resume_after_cancel_matches_an_uninterrupted_run(teacher, tmp_path):
    cfg = DistillConfig(student="shapesnet-tiny", epochs=2, images_per_epoch=4 * 8, batch_size=8, image_size=64,
                        beta=2.0, seed=5)
    whole = Distiller(cfg, teacher)
    whole.train(checkpoint=tmp_path / "whole.ckpt")

    ckpt = checkpoint_path(tmp_path / "student.pt")
    # cancel requested after step 5: progress.step() raises at the next boundary, after step 6
    progress = Progress(callback=lambda done, total, msg: progress.cancel() if done == 5 else None)
    first = Distiller(cfg, teacher)
    with pytest.raises(Cancelled):
        first.train(progress, checkpoint=ckpt)
    saved = read_checkpoint(ckpt)
    assert (saved["epoch"], saved["step"]) == (1, 2)        # epoch 1 done, 2 steps into epoch 2
    assert len(saved["history"]) == 1

    with pytest.raises(ValueError, match="other settings"):
        resume(ckpt, teacher, DistillConfig(**{**cfg.__dict__, "seed": 6}))
    again = resume(ckpt, teacher, cfg)
    assert (again.epoch, again.step) == (1, 2)
    again.train(Progress(), checkpoint=ckpt)
    assert _state_equal(again.student.state_dict(), whole.student.state_dict())
    assert _without_seconds(again.history) == _without_seconds(whole.history)
    assert read_checkpoint(ckpt)["epoch"] == 2


def test_torchvision_student_and_image_folder(teacher, tmp_path):
    """A torchvision student by name (random init) trained on an ImageFolder; its state dict and
    card load back through load_model without trust."""
    from conftest import write_labelled_folder
    from core.datasets.shapes import generate
    from core.distill.export import save_student
    from core.models import load_model

    folder = write_labelled_folder(tmp_path / "data", generate(12, seed=9, size=128))
    cfg = DistillConfig(student="mobilenet_v3_small", data=str(folder), epochs=1, images_per_epoch=8, batch_size=4,
                        image_size=64, eval_images=6)
    d = Distiller(cfg, teacher)
    assert d.student_layer == "features" and d.labels == list(teacher.labels)
    history = d.train()
    assert set(history[0]) >= {"ce", "kd", "interp", "train_accuracy"}
    evaluation = d.evaluate()
    assert evaluation["images"] == 6 and "pointing_game_student" not in evaluation   # no masks in a folder
    weights, _ = save_student(d, tmp_path / "mobile.pt", evaluation)
    bundle = load_model(str(weights))
    assert bundle.preprocess.crop == (64, 64) and bundle.labels == list(teacher.labels)
