"""The Distill workspace driven like a person would (pytest-qt, offscreen): a short distillation
draws one point per epoch on every curve, saves a student that loads without trust and shows
teacher and student maps; Cancel saves a checkpoint and Resume finishes to the same weights as an
uninterrupted run. Tiny student, 64 px, a few steps."""

import pytest
import torch
from PySide6.QtCore import Qt

from desktop_helpers import WAIT, collect_between_tests, window  # noqa: F401  (fixtures)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _configure(ws, out, epochs=2, images=16, batch=8, seed=3):
    f = ws.form
    f.student.setCurrentText("shapesnet-tiny")
    f.size.setValue(64)
    f.epochs.setValue(epochs)
    f.images.setValue(images)
    f.batch.setValue(batch)
    f.seed.setValue(seed)
    f.eval_images.setValue(8)
    f.out.setText(str(out))


def test_short_distillation_draws_curves_and_saves_a_loadable_student(qtbot, window, tmp_path):
    from core.models import load_model

    ws = window.distill
    window.mode_actions["distill"].trigger()
    assert window.stack.currentWidget() is ws
    assert ws.form.teacher.currentData() == "demo" and not ws.resume_button.isEnabled()
    _configure(ws, tmp_path / "tiny.pt")
    epochs = []
    ws.epoch_shown.connect(epochs.append)
    with qtbot.waitSignal(ws.maps_shown, timeout=WAIT) as maps:
        with qtbot.waitSignal(ws.run_finished, timeout=WAIT) as finished:
            qtbot.mouseClick(ws.start_button, Qt.LeftButton)
            assert ws.cancel_button.isEnabled() and not ws.start_button.isEnabled()
    result = finished.args[0]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for key in ("total", "ce", "kd", "interp", "train_accuracy", "monitor_accuracy", "monitor_cam_pearson"):
        xs, ys = ws.curves[key].getData()
        assert list(xs) == [1, 2] and len(ys) == 2, key
    assert ws.history[-1]["monitor_accuracy"] == pytest.approx(epochs[-1]["monitor_accuracy"])
    assert "fresh images" in ws.summary.text() and "higher is better" in ws.summary.text()

    bundle = load_model(str(result["weights"]))      # a state dict + card: no trust needed
    assert bundle.preprocess.crop == (64, 64) and bundle.name == "tiny"
    saved = torch.load(result["weights"], weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in bundle.net.state_dict().items())

    shown = maps.args[0]
    for who in ("teacher", "student"):
        assert ws.canvases[who].attr_map is shown[who]["map"]
    assert shown["teacher"]["map"].shape == (128, 128) and shown["student"]["map"].shape == (64, 64)
    assert shown["teacher"]["label"] == shown["student"]["label"]            # the same class on both
    assert "Grad-CAM" in ws.captions["student"].text()

    with qtbot.waitSignal(window.session.model_changed, timeout=WAIT):
        qtbot.mouseClick(ws.use_button, Qt.LeftButton)
    assert window.session.model.name == "tiny" and window.session.model.spec == str(result["weights"])
    assert ws.canvases["student"].attr_map is None      # the maps belonged to the previous selection


def test_cancel_saves_a_checkpoint_and_resume_matches_an_uninterrupted_run(qtbot, window, tmp_path, monkeypatch):
    from core.distill.run import run
    from core.distill.trainer import read_checkpoint
    from core.models import load_model
    from desktop import distill_adapters as da

    real_train = da.train

    def cancel_after_five_steps(config, out, resume, *args):
        progress = args[-2]
        if not resume:
            report = progress._callback

            def callback(done, total, message):
                report(done, total, message)
                if done == 5:
                    progress.cancel()          # raises at the next step: after step 6 of 8

            progress._callback = callback
        return real_train(config, out, resume, *args)

    monkeypatch.setattr(da, "train", cancel_after_five_steps)
    ws = window.distill
    out = tmp_path / "student.pt"
    _configure(ws, out, epochs=2, images=32, batch=8, seed=5)
    config = da.make_config(**ws.form.config_values())
    with qtbot.waitSignal(ws.run_cancelled, timeout=WAIT):
        qtbot.mouseClick(ws.start_button, Qt.LeftButton)
    saved = read_checkpoint(da.checkpoint_of(out))
    assert (saved["epoch"], saved["step"]) == (1, 2) and not out.exists()
    assert "epoch 2, step 2" in ws.state.text() and ws.resume_button.isEnabled()
    assert list(ws.curves["ce"].getData()[0]) == [1]

    ws.form.seed.setValue(99)                       # Resume continues with the checkpoint's own settings
    with qtbot.waitSignal(ws.run_finished, timeout=WAIT) as finished:
        qtbot.mouseClick(ws.resume_button, Qt.LeftButton)
    assert ws.form.seed.value() == 5 and list(ws.curves["ce"].getData()[0]) == [1, 2]
    resumed = torch.load(finished.args[0]["weights"], weights_only=True)

    whole = run(config, load_model("demo"), tmp_path / "whole.pt")
    uninterrupted = torch.load(whole["weights"], weights_only=True)
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)
    assert [h["ce"] for h in ws.history] == pytest.approx([h["ce"] for h in whole["history"]])
