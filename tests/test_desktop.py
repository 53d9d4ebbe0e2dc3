"""The desktop window driven like a person would, offscreen (pytest-qt)."""

import json
import time

import numpy as np
import pytest
import torch
import torchvision
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QPushButton

from desktop.app import start
from desktop.main_window import MainWindow

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"
WAIT = 60_000


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(w.explanation_shown, timeout=WAIT):
        start(w)
    yield w
    w.jobs.shutdown()


def run_and_wait(qtbot, w, method, **params):
    w.methods.select(method)
    for name, value in params.items():
        widget = w.methods.widgets[name]
        widget.setValue(value) if hasattr(widget, "setValue") else widget.setCurrentText(value)
    with qtbot.waitSignal(w.explanation_shown, timeout=WAIT,
                          check_params_cb=lambda r: r.method == method) as blocker:
        qtbot.mouseClick(w.methods.run_button, Qt.LeftButton)
    return blocker.args[0]


def test_first_run_shows_gradcam_on_demo(window):
    assert window.bundle.name == "demo" and window.result.method == "gradcam"
    assert window.canvas.overlay_rgba() is not None
    assert {"features", "pool", "fc"} <= set(window.models.items)
    assert window.models.tree.currentItem().data(0, Qt.UserRole) == "features"


@pytest.mark.parametrize("method,params", [("guided_backprop", {}), ("gradcam_pp", {}),
                                           ("occlusion", {"window": 32, "stride": 16}),
                                           ("activation_maximization", {"steps": 5})])
def test_each_family_through_the_ui(qtbot, window, method, params):
    before = window.canvas.overlay_rgba().copy()
    result = run_and_wait(qtbot, window, method, **params)
    assert result.map.shape == (128, 128)
    if method == "activation_maximization":
        assert window.canvas.image is result.extras["image"]
    else:
        assert not np.array_equal(window.canvas.overlay_rgba(), before)


def test_opacity_and_retarget(qtbot, window):
    window.opacity.setValue(80)
    assert window.canvas.overlay_item.opacity() == pytest.approx(0.8)
    first = window.result
    item = window.predictions.item(1)
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        qtbot.mouseClick(window.predictions.viewport(), Qt.LeftButton,
                         pos=window.predictions.visualItemRect(item).center())
    assert window.result.target.index == item.data(Qt.UserRole) != first.target.index
    assert not np.allclose(window.result.map, first.map)


def test_layer_click_retargets_layer(qtbot, window):
    item = window.models.items["features.5"]
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.models.tree.itemClicked.emit(item, 0)
    assert window.result.layer == "features.5" and window.explainer.cache.passes == 1


def test_cancel_long_rise_and_stay_responsive(qtbot, window):
    window.methods.select("rise")
    window.methods.widgets["masks"].setValue(20000)
    delays, last = [], [time.perf_counter()]

    def probe():
        now = time.perf_counter()
        delays.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(probe)
    timer.start(10)
    with qtbot.waitSignal(window.jobs.progressed, timeout=WAIT):
        qtbot.mouseClick(window.methods.run_button, Qt.LeftButton)
    qtbot.wait(1500)  # RISE is running; the event loop must keep turning
    with qtbot.waitSignal(window.message_shown, timeout=WAIT, check_params_cb=lambda m: "cancelled" in m):
        qtbot.mouseClick(window.methods.cancel_button, Qt.LeftButton)
    timer.stop()
    assert max(delays[1:]) < 0.150, f"worst event-loop delay {max(delays[1:]) * 1e3:.0f} ms"
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=WAIT)


def test_bad_image_and_mismatched_checkpoint(qtbot, window, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    with qtbot.waitSignal(window.message_shown, timeout=WAIT, check_params_cb=lambda m: "failed" in m) as b:
        window.open_image(fake)
    assert "not an image" in b.args[0]
    ckpt = tmp_path / "r10.pth"
    state = torchvision.models.resnet18(num_classes=10).state_dict()
    del state["layer1.0.conv1.weight"]
    torch.save(state, ckpt)
    with qtbot.waitSignal(window.message_shown, timeout=WAIT, check_params_cb=lambda m: "failed" in m) as b:
        window.load_model("resnet18", str(ckpt))
    assert "does not fit" in b.args[0]
    assert window.bundle.name == "demo"  # the app keeps working with what it had
    run_and_wait(qtbot, window, "saliency")


def test_metrics_panel_with_ground_truth(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.metrics_shown, timeout=WAIT) as blocker:
        qtbot.mouseClick(window.metrics.findChild(QPushButton, "compute_metrics"), Qt.LeftButton)
    results = blocker.args[0]
    assert {"deletion", "insertion", "average_drop", "iou", "pointing_game"} <= set(results)
    assert window.metrics.table.rowCount() >= 5 and results["pointing_game"].value == 1.0
    window.write_metrics(tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["method"] == "gradcam" and any(m["metric"] == "deletion" and m["curve_y"] for m in data["metrics"])
    window.write_metrics(tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().startswith("metric,value\ndeletion,")


def test_compare_grid(qtbot, window):
    with qtbot.waitSignal(window.message_shown, timeout=WAIT, check_params_cb=lambda m: "comparison" in m):
        window.run_compare()
    assert window.compare_image.shape[0] > 256


def test_window_state_restored(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    w.resize(760, 640)
    w.findChild(QDockWidget, "Predictions").hide()
    w.close()
    again = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(again)
    again.show()
    assert (again.width(), again.height()) == (760, 640)
    dock = again.findChild(QDockWidget, "Predictions")
    assert dock is not None and not dock.isVisible()
    again.jobs.shutdown()


def _mouse(widget, kind, pos, buttons):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    types = {"press": QEvent.MouseButtonPress, "move": QEvent.MouseMove, "release": QEvent.MouseButtonRelease}
    button = Qt.NoButton if kind == "move" else Qt.LeftButton
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    event = QMouseEvent(types[kind], pos, global_pos, button, buttons, Qt.NoModifier)
    QApplication.sendEvent(widget, event)


def test_drag_to_occlude(qtbot, window):
    """A person drags at pyqtgraph's ~60 Hz; resnet18 on this CPU needs ~30 ms per probe, so
    requests outpace results and the stale ones must be dropped, not queued."""
    from PySide6.QtCore import QPointF

    from core.diagnose.occlude import Occluder

    window.image_path = ROOT / "resources" / "images" / "photos" / "chelsea.png"
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.load_model("resnet18", "none")
    window.diagnose.size.setValue(60)
    window.diagnose.patch.setChecked(True)
    canvas = window.canvas
    viewport = canvas.viewport()

    def to_widget(x, y):
        scene = canvas.view.mapViewToScene(QPointF(x, y))
        return QPointF(canvas.mapFromScene(scene))

    start_box = canvas.patch_box()
    cx, cy = (start_box[0] + start_box[2]) / 2, (start_box[1] + start_box[3]) / 2
    _mouse(viewport, "press", to_widget(cx, cy), Qt.LeftButton)
    path = [(cx + dx, cy + dy) for dx, dy in zip(np.linspace(0, 80, 40), np.linspace(0, 60, 40))]
    during = []
    for i, (x, y) in enumerate(path):
        _mouse(viewport, "move", to_widget(x, y), Qt.LeftButton)
        qtbot.wait(20)
        if i == len(path) // 2:  # mid-drag, button still down: the prediction has already updated
            qtbot.waitUntil(lambda: window.occlusion_results > 0, timeout=10_000)
        during.append(window.occlusion_results)
    with qtbot.waitSignal(window.occlusion_probed, timeout=WAIT):
        _mouse(viewport, "release", to_widget(*path[-1]), Qt.NoButton)
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=WAIT)
    assert max(during) > 0, "predictions did not update during the drag"
    assert window.occlusion_requests > window.occlusion_results, "stale requests were not dropped"
    final_box = canvas.patch_box()
    assert final_box != start_box
    exact = Occluder(window.bundle, window.explainer.x, "grey").probe(final_box, window._current_target())
    assert window.diagnose.trace_values[-1] == pytest.approx(exact.target_probability, abs=1e-5)


def test_occluding_the_object_drops_the_target(window):
    from core.diagnose.occlude import Occluder
    from core.evaluate import read_annotations

    box = read_annotations(DEMO / "ground_truth.json")["clean_star.png"].box
    occ = Occluder(window.bundle, window.explainer.x, "grey")
    target = window._current_target()
    on_object = occ.probe((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), target).target_probability
    elsewhere = occ.probe((80, 80, 128, 128), target).target_probability
    assert on_object < 0.5 < elsewhere


def test_attack_panel(qtbot, window):
    window.diagnose.epsilon.setValue(8)
    with qtbot.waitSignal(window.attack_shown, timeout=WAIT) as blocker:
        window.diagnose.attack_requested.emit(window.diagnose.attack_args())
    shown = blocker.args[0]
    res, shift = shown.result, shown.shift
    assert res.norm <= 8 / 255 + 1e-6 and -1 <= shift["spearman"] <= 1
    assert "→" in window.diagnose.attack_summary.text()
    assert shown.method == "gradcam" and "Grad-CAM" in window.diagnose.attack_summary.text()
    assert window.diagnose.attack_view.image.shape[1] > 3 * 128


def test_attack_panel_explains_the_adversarial_input_when_preprocessing_crops(qtbot, window):
    """resize 128 > crop 112 (as torchvision's 256/224): the attacked panel shows and explains
    ``res.x`` itself, so its prediction is the attack's ``after``; the selected cheap method is used."""
    from core.models import Preprocess
    from core.models.demo import DEMO_MEAN, DEMO_STD

    window.bundle.preprocess = Preprocess(crop=(112, 112), resize=128, mean=DEMO_MEAN, std=DEMO_STD)
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.open_image(window.image_path)
    assert window.explainer.display.shape == (112, 112, 3)
    window.methods.select("saliency")
    window.diagnose.epsilon.setValue(8)
    window.diagnose.steps.setValue(5)
    with qtbot.waitSignal(window.attack_shown, timeout=WAIT) as blocker:
        window.diagnose.attack_requested.emit(window.diagnose.attack_args())
    shown = blocker.args[0]
    res = shown.result
    assert res.success and shown.adversarial.prediction[0][0] == res.after[0] != res.before[0]
    np.testing.assert_array_equal(shown.adversarial.image, res.pixels)
    assert shown.adversarial.image.shape == window.explainer.display.shape
    assert shown.method == "saliency" and shown.clean.image is window.explainer.display
    summary = window.diagnose.attack_summary.text()
    assert f"→ {window.bundle.label(res.after[0])}" in summary and "Saliency" in summary

    with qtbot.waitSignal(window.epsilon_sweep_shown, timeout=WAIT) as blocker:
        window.diagnose.epsilon_sweep_requested.emit({**window.diagnose.attack_args(), "steps": 2})
    rows = blocker.args[0]
    assert len(rows) == 6 and {r["method"] for r in rows} == {"saliency"}
    assert "Saliency" in window.diagnose.sweep_plot.getPlotItem().titleLabel.text


def test_scan_panel_and_counterfactual(qtbot, window, tmp_path):
    from conftest import write_labelled_folder
    from core.datasets.shapes import generate

    # clean images: the biased model, which reads tags, gets most of them wrong
    write_labelled_folder(tmp_path / "set", generate(12, seed=3))
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.load_model("demo-biased", "none")
    window.scan.set_source(str(tmp_path / "set"))
    with qtbot.waitSignal(window.scan_shown, timeout=WAIT) as blocker:
        qtbot.mouseClick(window.scan.findChild(QPushButton, "scan"), Qt.LeftButton)
    result = blocker.args[0]
    assert result.accuracy < 0.7 and window.scan.mistakes.rowCount() == int((result.labels != result.predictions).sum())
    with qtbot.waitSignal(window.counterfactual_shown, timeout=WAIT) as blocker:
        window.scan.mistakes.cellDoubleClicked.emit(0, 1)
    assert blocker.args[0].shape[1] > 3 * 128


@pytest.mark.parametrize("model,flagged", [("demo", False), ("demo-biased", True)])
def test_bias_report_panel(qtbot, window, model, flagged):
    if model != "demo":
        with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
            window.load_model(model, "none")
    window.methods.select("gradcam")
    with qtbot.waitSignal(window.bias_shown, timeout=WAIT) as blocker:
        window.run_bias_report(str(DEMO), "top-left corner (demo tag)")
    assert blocker.args[0].flagged is flagged
