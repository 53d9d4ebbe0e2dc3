"""What is shown matches what is selected: the session as the single source of truth, driven like
a user would (pytest-qt, offscreen)."""

import json

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from desktop_helpers import WAIT, collect_between_tests, run_and_wait, window  # noqa: F401  (fixtures)
from desktop.main_window import MainWindow

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"


def test_switching_to_a_slow_method_says_not_computed(qtbot, window):
    explain = window.explain
    old_map = explain.canvas.attr_map
    assert old_map is not None
    explain.methods.select("rise")
    assert window.session.method == "rise" and window.session.result() is None
    assert explain.canvas.attr_map is None and explain.canvas.overlay_rgba() is None  # never the old map
    assert "not computed" in explain.canvas.message and "RISE" in explain.canvas.message
    assert "not computed — Run (" in explain.caption.text() and "RISE" in explain.caption.text()
    assert "not computed" in explain.methods.status.text()
    qtbot.wait(500)  # nothing starts by itself
    assert not window.jobs.busy and explain.canvas.attr_map is None
    # back to the instant method: its cached map returns without recomputing
    explain.methods.select("gradcam")
    assert explain.canvas.attr_map is old_map and "Grad-CAM" in explain.caption.text()


def test_instant_methods_rerun_on_every_change(qtbot, window):
    explain = window.explain
    explain.methods.select("saliency")
    qtbot.waitUntil(lambda: window.session.result() is not None, timeout=WAIT)
    first = window.session.result()
    widget = next(w for name, w in explain.methods.widgets.items() if hasattr(w, "setChecked") or
                  hasattr(w, "setCurrentIndex"))
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        if hasattr(widget, "setChecked"):
            widget.setChecked(not widget.isChecked())
        else:
            widget.setCurrentIndex((widget.currentIndex() + 1) % widget.count())
    second = window.session.result()
    assert second is not first and second.params != first.params
    assert explain.canvas.attr_map is second.map


def test_changing_the_image_clears_metrics_and_diagnosis(qtbot, window):
    explain, diagnose = window.explain, window.diagnose
    with qtbot.waitSignal(explain.metrics_shown, timeout=WAIT):
        qtbot.mouseClick(explain.metrics.compute, Qt.LeftButton)
    diagnose.controls.steps.setValue(2)
    with qtbot.waitSignal(diagnose.attack_shown, timeout=WAIT):
        qtbot.mouseClick(diagnose.controls.run, Qt.LeftButton)
    with qtbot.waitSignal(diagnose.occlusion_probed, timeout=WAIT):
        diagnose.controls.patch.setChecked(True)
    assert explain.metrics.table.rowCount() > 0 and "→" in diagnose.attack_summary.text()
    assert "%" in diagnose.controls.readout.text()
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.session.open_image(DEMO / "clean_circle.png")
    assert window.session.image_path.name == "clean_circle.png"
    assert explain.metrics.table.rowCount() == 0 and "not computed" in explain.metrics.state.text()
    assert window.session.result("metrics") is None and window.session.result("attack") is None
    assert "→" not in diagnose.attack_summary.text()
    assert diagnose.views["attacked"].attr_map is None
    # the patch stays up and is probed again on the new image: never the old image's probability
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=WAIT)
    from core.diagnose.occlude import Occluder

    s = window.session
    exact = Occluder(s.bundle, s.explainer.x, "grey").probe(diagnose.canvas.patch_box(), s.target_index())
    assert diagnose.controls.readout.text().startswith(f"{exact.target_probability:.1%}")


def test_unticking_the_patch_clears_the_occluded_probability(qtbot, window):
    diagnose = window.diagnose
    with qtbot.waitSignal(diagnose.occlusion_probed, timeout=WAIT):
        diagnose.controls.patch.setChecked(True)
    assert "%" in diagnose.controls.readout.text()
    diagnose.controls.patch.setChecked(False)
    assert diagnose.controls.readout.text() == "—" and window.session.result("patch_probe") is None
    assert diagnose.canvas.patch is None


def test_changing_the_fill_reprobes_with_it_on_the_same_traced_model(qtbot, window):
    from core.diagnose.occlude import Occluder

    diagnose, s = window.diagnose, window.session
    with qtbot.waitSignal(diagnose.occlusion_probed, timeout=WAIT):
        diagnose.controls.patch.setChecked(True)
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=WAIT)
    engine = diagnose._occluder[2].engine
    assert engine is not None, "the demo model runs incrementally: its trace is what must be kept"
    with qtbot.waitSignal(diagnose.occlusion_probed, timeout=WAIT) as probed:
        diagnose.controls.fill.setCurrentText("black")
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=WAIT)
    assert diagnose._occluder[1] == "black" and diagnose._occluder[2].engine is engine, "no new trace"
    box = diagnose.canvas.patch_box()
    exact = Occluder(s.bundle, s.explainer.x, "black", incremental="off").probe(box, s.target_index())
    assert probed.args[0].target_probability == pytest.approx(exact.target_probability, abs=1e-5)
    diagnose.controls.patch.setChecked(False)


def test_a_failing_model_load_keeps_the_previous_model(qtbot, window, tmp_path):
    from desktop.log_setup import flush_log, log_path

    browser = window.models
    browser.model.setCurrentText("resnet18")  # the user picks another model...
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a model at all")
    with qtbot.waitSignal(window.session.model_load_failed, timeout=WAIT):
        window.session.load_model(str(bad), "DEFAULT")  # ...and the load fails
    assert window.session.model.name == "demo" and window.session.result() is not None
    assert browser.model.currentText() == "demo" and "Loaded: demo" in browser.loaded.text()
    errors = [n for n in window.notifications.items() if n.level == "error"]
    assert errors and "broken" in errors[0].text and "demo is still loaded" in errors[0].text
    qtbot.wait(100)
    assert window.notifications.items()  # it stays until dismissed
    flush_log()
    log = log_path().read_text()
    assert "broken" in log and "Traceback" in log  # the job failure, with its traceback
    run_and_wait(qtbot, window, "saliency")  # and the app keeps working with what it had


def test_random_weights_warning_is_visible(qtbot, window):
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.session.load_model("resnet18", "none")
    notes = [n for n in window.notifications.items() if n.key == "random-weights"]
    assert notes and notes[0].level == "warning" and "random weights" in notes[0].text
    assert window.notifications.card(notes[0].id).isVisible()
    assert "random weights" in window.models.loaded.text()
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.session.load_model("demo", "none")
    assert not [n for n in window.notifications.items() if n.key == "random-weights"]


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_every_workspace_fits_and_keeps_its_plots_readable(qtbot, window, size):
    window.resize(*size)
    qtbot.wait(50)
    assert (window.width(), window.height()) == size
    for name, workspace in window.workspaces.items():
        window.session.set_workspace(name)
        qtbot.wait(50)
        assert window.stack.currentWidget() is workspace and window.mode_actions[name].isChecked()
        assert (window.width(), window.height()) == size, f"{name} grew the window"
        import pyqtgraph as pg

        for plot in workspace.findChildren(pg.GraphicsView):
            if plot.isVisible():
                hint = plot.minimumSize()
                assert plot.height() >= hint.height() and plot.width() >= hint.width(), (name, plot.objectName())
    # a long form (activation maximisation) scrolls instead of growing the window
    window.session.set_workspace("explain")
    window.explain.methods.select("activation_maximization")
    qtbot.wait(50)
    assert (window.width(), window.height()) == size


def test_save_and_open_session_round_trip(qtbot, window, tmp_path):
    s = window.session
    window.models.items  # the demo is loaded
    s.set_layer("features.5")
    s.set_target(s.explainer.prediction[1][0])
    window.explain.methods.select("integrated_gradients")
    s.set_params({"steps": 16})
    s.set_workspace("compare")
    path = window.files.save_session(tmp_path / "mine.saliency.json")
    data = json.loads(path.read_text())
    assert data["format"] == "saliency-studio session" and data["method"] == "integrated_gradients"
    assert data["params"]["steps"] == 16 and data["layer"] == "features.5" and data["model"]["spec"] == "demo"

    other = MainWindow(QSettings(str(tmp_path / "other.ini"), QSettings.IniFormat))
    qtbot.addWidget(other)
    other.show()
    with qtbot.waitSignal(other.session.workspace_changed, timeout=WAIT):
        other.files.open_file(path)
    o = other.session
    assert o.model.name == "demo" and o.image_path == s.image_path
    assert (o.layer, o.target, o.method, o.params) == (s.layer, s.target, s.method, s.params)
    assert other.stack.currentWidget() is other.compare
    assert other.explain.methods.current() == "integrated_gradients"
    assert other.explain.methods.widgets["steps"].value() == 16
    assert str(path.resolve()) in [a.text() for a in other.recent_menu.actions()]
    other.jobs.shutdown()


def test_opening_a_broken_session_file_says_why(qtbot, window, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"format\": \"something else\"}")
    window.files.open_file(bad)
    errors = [n for n in window.notifications.items() if n.level == "error"]
    assert errors and "not a Saliency Studio session" in errors[0].text
    assert window.session.model.name == "demo"


def test_launcher_open_flag_checks_the_file(tmp_path, capsys):
    from desktop.launcher import run

    assert run(["--open", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_results_are_keyed_by_the_exact_selection(qtbot, window):
    s = window.session
    key = s.key()
    assert key.method == "gradcam" and key.layer == "features" and key.target == s.explainer.prediction[0][0]
    assert s.get(key) is s.result()
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        s.set_layer("features.5")
        assert s.key() != key and s.get(key) is not None  # cached, but not shown for the new layer
        assert window.explain.canvas.attr_map is None  # (the new layer's map is being computed)
    np.testing.assert_array_equal(window.explain.canvas.attr_map, s.result().map)


def test_a_superseded_explanation_is_not_left_running(qtbot, window):
    """Asking for A, then B before A starts: A's queued job is dropped without a callback; asking
    for A again must compute it, not show it as still running."""
    s = window.session
    first = s.explain("saliency")
    second = s.explain("input_x_gradient")
    assert list(s.running) == [second] and first not in s.running
    qtbot.waitUntil(lambda: not s.running, timeout=WAIT)
    with qtbot.waitSignal(s.results_changed, timeout=WAIT):
        again = s.explain("saliency")
    qtbot.waitUntil(lambda: s.get(again) is not None, timeout=WAIT)
