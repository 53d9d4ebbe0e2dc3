"""The GUI side of model input descriptions: the dialog after "Open model file…", its values as
a ``Preprocess``, loading through the window, and load-time warnings shown to the user."""

import json
import warnings

import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from core.models import InputSpec, Preprocess
from desktop.input_dialog import ModelInputDialog
from desktop.main_window import MainWindow
from desktop.model_browser import ModelBrowser

from test_model_spec import BatchStatsNet, GrayNet

WAIT = 60_000


def save_scripted(net, path) -> str:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(net).save(str(path))
    return str(path)


@pytest.fixture
def gray_model(tmp_path):
    torch.manual_seed(0)
    return save_scripted(GrayNet(), tmp_path / "gray.pt")


def test_dialog_without_card_shows_imagenet_defaults(qtbot, gray_model):
    dialog = ModelInputDialog(gray_model)
    qtbot.addWidget(dialog)
    assert "No model card" in dialog.note.text()
    assert dialog.preprocess() == Preprocess()


def test_dialog_prefilled_from_card_gives_the_preprocess(qtbot, gray_model, tmp_path):
    (tmp_path / "gray.json").write_text(json.dumps(
        {"input_size": [32, 40], "channels": 1, "mean": 0.5, "std": [0.25]}))
    dialog = ModelInputDialog(gray_model)
    qtbot.addWidget(dialog)
    assert "gray.json" in dialog.note.text()
    assert (dialog.input_size.text(), dialog.resize_to.text(), dialog.channels.currentText()) == ("32, 40", "", "1")
    assert dialog.preprocess() == Preprocess(crop=(32, 40), resize=None, mean=(0.5,), std=(0.25,), channels=1)
    dialog.channels.setCurrentText("3")
    dialog.mean.setText("0.4, 0.5, 0.6")
    dialog.std.setText("0.2")
    dialog.resize_to.setText("48")
    dialog.channel_order.setCurrentText("bgr")
    assert dialog.preprocess() == Preprocess(crop=(32, 40), resize=48, mean=(0.4, 0.5, 0.6), std=(0.2,) * 3,
                                             channels=3, channel_order="bgr")


def test_dialog_refuses_inconsistent_values(qtbot, gray_model):
    dialog = ModelInputDialog(gray_model)
    qtbot.addWidget(dialog)
    dialog.channels.setCurrentText("1")
    dialog.accept()  # the ImageNet mean has 3 values: stays open and says why
    assert dialog.result() != QDialog.Accepted and "mean" in dialog.error.text()
    dialog.mean.setText("0.5")
    dialog.std.setText("0.25")
    dialog.accept()
    assert dialog.result() == QDialog.Accepted


def test_open_model_file_asks_for_the_input(qtbot, monkeypatch, gray_model, tmp_path):
    (tmp_path / "gray.json").write_text(json.dumps({"input_size": 32, "channels": 1, "mean": 0.5, "std": 0.25}))
    browser = ModelBrowser()
    qtbot.addWidget(browser)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (gray_model, ""))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.No)
    monkeypatch.setattr(ModelInputDialog, "exec", lambda self: QDialog.Accepted)
    with qtbot.waitSignal(browser.file_load_requested, timeout=WAIT) as blocker:
        browser._open_file()
    path, trust, inputs = blocker.args
    assert path == gray_model and trust is False
    assert isinstance(inputs, InputSpec) and inputs.channels == 1 and inputs.input_size == (32, 32)


@pytest.fixture
def bare_window(qtbot, tmp_path):
    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    yield w
    w.jobs.shutdown()


def wait_message(qtbot, window, needle):
    """The next message containing ``needle`` or "failed" (so a failure shows at once)."""
    return qtbot.waitSignal(window.message_shown, timeout=WAIT, check_params_cb=lambda m: needle in m or "failed" in m)


def test_window_loads_a_described_model_and_shows_warnings(qtbot, bare_window, tmp_path):
    gray = tmp_path / "gray.pth"  # pickled: the GUI hooks layers, which TorchScript does not allow
    torch.save(GrayNet(), gray)
    inputs = InputSpec(input_size=(32, 32), channels=1, mean=(0.5,), std=(0.25,))
    with wait_message(qtbot, bare_window, "loaded") as b:
        bare_window.models.file_load_requested.emit(str(gray), True, inputs)
    assert "loaded" in b.args[0]
    bundle = bare_window.session.bundle
    assert bundle.preprocess.channels == 1 and bundle.preprocess.crop == (32, 32)
    with wait_message(qtbot, bare_window, "failed") as b:
        bare_window.session.load_model(str(gray), "DEFAULT", True)  # no description: 3 channels do not fit
    assert "expects 1 input channel" in b.args[0]
    untracked = tmp_path / "untracked.pth"
    torch.save(BatchStatsNet("untracked"), untracked)
    with wait_message(qtbot, bare_window, "warning:") as b:
        bare_window.session.load_model(str(untracked), "DEFAULT", True, InputSpec(input_size=(32, 32)))
    assert "batch" in b.args[0]
    # the warning stays in the notification area until dismissed
    assert any(n.level == "warning" and "batch" in n.text for n in bare_window.notifications.items())
