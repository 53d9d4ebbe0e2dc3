"""Shared by the desktop tests: a 1920×1080 virtual screen (so window sizes such as 1280×720 can
be tested offscreen; Qt's default offscreen screen is 800×800), the window fixture and helpers."""

import gc
import json
import os
import tempfile

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

WAIT = 60_000


def use_big_virtual_screen() -> None:
    """Before the QApplication exists: give the offscreen platform a 1920×1080 screen."""
    if QApplication.instance() is not None or os.environ.get("QT_QPA_PLATFORM", "offscreen") != "offscreen":
        return
    config = os.path.join(tempfile.mkdtemp(prefix="qt-screen-"), "screen.json")
    with open(config, "w") as f:
        json.dump({"synchronousWindowSystem": False, "windowFrameMargins": False,
                   "screens": [{"name": "virtual", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}, f)
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"


use_big_virtual_screen()


@pytest.fixture(autouse=True)
def collect_between_tests():
    """Collect the previous windows' garbage while no job thread runs: a collection that starts on
    the GUI thread while a worker runs model code has crashed or deadlocked PySide6 6.12 here."""
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def window(qtbot, tmp_path):
    """The window as a user first sees it: demo model, demo image, the default method shown."""
    from desktop.app import start
    from desktop.main_window import MainWindow

    w = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.explanation_shown, timeout=WAIT):
        start(w)
    yield w
    w.jobs.shutdown()


def run_and_wait(qtbot, w, method, **params):
    """Pick ``method`` in the form, set ``params``, press Run, wait for its map."""
    panel = w.explain.methods
    panel.select(method)
    for name, value in params.items():
        widget = panel.widgets[name]
        widget.setValue(value) if hasattr(widget, "setValue") else widget.setCurrentText(value)
    with qtbot.waitSignal(w.explanation_shown, timeout=WAIT,
                          check_params_cb=lambda r: r.method == method) as blocker:
        qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    return blocker.args[0]
