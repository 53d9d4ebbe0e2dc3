"""The desktop window driven like a person would, offscreen (pytest-qt)."""

import json
import time

import numpy as np
import pytest
import torch
import torchvision
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QDockWidget

from desktop_helpers import WAIT, collect_between_tests, run_and_wait, window  # noqa: F401  (fixtures)
from desktop.main_window import MainWindow

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"


def test_first_run_shows_the_default_method_on_demo(window):
    s = window.session
    assert s.model.name == "demo" and s.result().method == "gradcam"
    assert window.explain.canvas.overlay_rgba() is not None
    assert {"features", "pool", "fc"} <= set(window.models.items)
    assert window.models.tree.currentItem().data(0, Qt.UserRole) == "features"
    assert "Grad-CAM" in window.explain.caption.text() and "Loaded: demo" in window.models.loaded.text()


@pytest.mark.parametrize("method,params", [("guided_backprop", {}), ("gradcam_pp", {}),
                                           ("occlusion", {"window": 32, "stride": 16}),
                                           ("activation_maximization", {"steps": 5})])
def test_each_family_through_the_ui(qtbot, window, method, params):
    before = window.explain.canvas.overlay_rgba().copy()
    result = run_and_wait(qtbot, window, method, **params)
    assert result.map.shape == (128, 128)
    canvas = window.explain.canvas
    if method == "activation_maximization":
        assert canvas.image is result.extras["image"] and canvas.attr_map is None
    else:
        assert canvas.attr_map is result.map and not np.array_equal(canvas.overlay_rgba(), before)
    assert window.session.spec(method).label in window.explain.caption.text()


def test_opacity_and_retarget(qtbot, window):
    window.explain.opacity.setValue(80)
    assert window.explain.canvas.overlay_item.opacity() == pytest.approx(0.8)
    first = window.session.result()
    predictions = window.explain.predictions
    item = predictions.item(1)
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        qtbot.mouseClick(predictions.viewport(), Qt.LeftButton, pos=predictions.visualItemRect(item).center())
    shown = window.session.result()
    assert shown.target.index == item.data(Qt.UserRole) != first.target.index
    assert not np.allclose(shown.map, first.map) and window.explain.canvas.attr_map is shown.map


def test_layer_click_retargets_layer(qtbot, window):
    item = window.models.items["features.5"]
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.models.tree.itemClicked.emit(item, 0)
    assert window.session.result().layer == "features.5" and window.session.explainer.cache.passes == 1


def test_cancel_returns_the_previous_map_and_stays_responsive(qtbot, window):
    gradcam = window.session.result()
    panel = window.explain.methods
    panel.select("rise")
    panel.widgets["masks"].setValue(20000)
    delays, last = [], [time.perf_counter()]

    def probe():
        now = time.perf_counter()
        delays.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(probe)
    timer.start(10)
    with qtbot.waitSignal(window.jobs.progressed, timeout=WAIT):
        qtbot.mouseClick(panel.run_button, Qt.LeftButton)
    qtbot.wait(1500)  # RISE is running; the event loop must keep turning
    assert window.lanes["interactive"].isVisible() and "explain" in window.lanes["interactive"].label.text()
    with qtbot.waitSignal(window.message_shown, timeout=WAIT, check_params_cb=lambda m: "cancelled" in m):
        qtbot.mouseClick(panel.cancel_button, Qt.LeftButton)
    timer.stop()
    assert max(delays[1:]) < 0.150, f"worst event-loop delay {max(delays[1:]) * 1e3:.0f} ms"
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=WAIT)
    assert "cancelled" in window.message.text()
    assert window.session.method == "gradcam" and panel.current() == "gradcam"
    assert window.explain.canvas.attr_map is gradcam.map and "Grad-CAM" in window.explain.caption.text()
    assert not window.lanes["interactive"].isVisible()
    # the RISE settings are remembered for when the user comes back to it
    panel.select("rise")
    assert panel.widgets["masks"].value() == 20000


def test_bad_image_and_mismatched_checkpoint(qtbot, window, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    with qtbot.waitSignal(window.message_shown, timeout=WAIT, check_params_cb=lambda m: "failed" in m) as b:
        window.session.open_image(fake)
    assert "not an image" in b.args[0] and window.session.image_path.name == "clean_star.png"
    ckpt = tmp_path / "r10.pth"
    state = torchvision.models.resnet18(num_classes=10).state_dict()
    del state["layer1.0.conv1.weight"]
    torch.save(state, ckpt)
    with qtbot.waitSignal(window.message_shown, timeout=WAIT, check_params_cb=lambda m: "failed" in m) as b:
        window.session.load_model("resnet18", str(ckpt))
    assert "does not fit" in b.args[0]
    assert window.session.model.name == "demo"  # the app keeps working with what it had
    run_and_wait(qtbot, window, "saliency")


def test_metrics_beside_the_map_with_ground_truth(qtbot, window, tmp_path):
    panel = window.explain.metrics
    assert "not computed" in panel.state.text()
    with qtbot.waitSignal(window.explain.metrics_shown, timeout=WAIT) as blocker:
        qtbot.mouseClick(panel.compute, Qt.LeftButton)
    results = blocker.args[0]
    assert {"deletion", "insertion", "average_drop", "iou", "pointing_game"} <= set(results)
    assert results["pointing_game"].value == 1.0
    rows = {panel.table.item(r, 0).text(): panel.table.item(r, 2).text() for r in range(panel.table.rowCount())}
    assert rows["deletion AUC"] == "↓ lower" and rows["insertion AUC"] == "↑ higher"
    assert "increase in confidence %" in rows  # a readable name, not an identifier
    window.explain.write_metrics(tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["method"] == "gradcam" and any(m["metric"] == "deletion" and m["curve_y"] for m in data["metrics"])
    window.explain.write_metrics(tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().startswith("metric,value\ndeletion,")


def test_compare_grid_synchronised_with_headline_metric(qtbot, window):
    window.session.set_workspace("compare")
    compare = window.compare
    compare.set_chosen(["gradcam", "saliency", "integrated_gradients"])
    with qtbot.waitSignal(compare.compared, timeout=WAIT):
        qtbot.mouseClick(compare.run_button, Qt.LeftButton)
    cells = compare.cells
    assert set(cells) == {"gradcam", "saliency", "integrated_gradients"}
    for name, cell in cells.items():
        assert cell.canvas.attr_map is window.session.result("explanation", method=name).map
        assert "deletion AUC" in cell.title.text() and "lower is better" in cell.title.text()
        assert cell.canvas.width() >= 200 and cell.canvas.height() >= 170
    first, *others = cells.values()
    assert all(cell.canvas.view.linkedView(0) is first.canvas.view for cell in others)  # synchronised zoom
    compare.scale.setCurrentIndex(1)
    ranges = {cell.canvas.shared_range for cell in cells.values()}
    assert len(ranges) == 1 and None not in ranges
    assert compare.export_image().shape[1] > 3 * 128


def test_window_state_restored_and_reset(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    w.resize(1250, 690)
    w.findChild(QDockWidget, "Log").show()
    w.close()
    again = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(again)
    again.show()
    assert (again.width(), again.height()) == (1250, 690)
    dock = again.findChild(QDockWidget, "Log")
    assert dock is not None and dock.isVisible()
    again.reset_layout()
    assert not dock.isVisible()
    again.jobs.shutdown()
    stale = QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat)
    stale.setValue("layout_version", 1)  # a layout saved by an older version is not restored
    stale.sync()
    third = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(third)
    assert not third.findChild(QDockWidget, "Log").isVisibleTo(third)
    third.jobs.shutdown()


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

    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.session.load_model("resnet18", "none", image=ROOT / "resources" / "images" / "photos" / "chelsea.png")
    window.session.set_workspace("diagnose")
    diagnose = window.diagnose
    diagnose.controls.size.setValue(60)
    with qtbot.waitSignal(diagnose.occlusion_probed, timeout=WAIT):
        diagnose.controls.patch.setChecked(True)
    assert diagnose._fill_item is not None and diagnose._fill_item.brush().color().alpha() > 100  # visibly filled
    canvas = diagnose.canvas
    viewport = canvas.viewport()

    def to_widget(x, y):
        scene = canvas.view.mapViewToScene(QPointF(x, y))
        return QPointF(canvas.mapFromScene(scene))

    start_box = canvas.patch_box()
    results_before = diagnose.occlusion_results
    cx, cy = (start_box[0] + start_box[2]) / 2, (start_box[1] + start_box[3]) / 2
    _mouse(viewport, "press", to_widget(cx, cy), Qt.LeftButton)
    path = [(cx + dx, cy + dy) for dx, dy in zip(np.linspace(0, 80, 40), np.linspace(0, 60, 40))]
    during = []
    for i, (x, y) in enumerate(path):
        _mouse(viewport, "move", to_widget(x, y), Qt.LeftButton)
        qtbot.wait(20)
        if i == len(path) // 2:  # mid-drag, button still down: the prediction has already updated
            qtbot.waitUntil(lambda: diagnose.occlusion_results > results_before, timeout=10_000)
        during.append(diagnose.occlusion_results)
    with qtbot.waitSignal(diagnose.occlusion_probed, timeout=WAIT):
        _mouse(viewport, "release", to_widget(*path[-1]), Qt.NoButton)
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=WAIT)
    assert max(during) > results_before, "predictions did not update during the drag"
    assert diagnose.occlusion_requests > diagnose.occlusion_results, "stale requests were not dropped"
    final_box = canvas.patch_box()
    assert final_box != start_box
    s = window.session
    exact = Occluder(s.bundle, s.explainer.x, "grey").probe(final_box, s.target_index())
    assert diagnose.trace_values[-1] == pytest.approx(exact.target_probability, abs=1e-5)
    assert f"{exact.target_probability:.1%}" in diagnose.controls.readout.text()


def test_occluding_the_object_drops_the_target(window):
    from core.diagnose.occlude import Occluder
    from core.evaluate import read_annotations

    box = read_annotations(DEMO / "ground_truth.json")["clean_star.png"].box
    s = window.session
    occ = Occluder(s.bundle, s.explainer.x, "grey")
    on_object = occ.probe((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), s.target_index()).target_probability
    elsewhere = occ.probe((80, 80, 128, 128), s.target_index()).target_probability
    assert on_object < 0.5 < elsewhere


def test_attack_results_at_full_size(qtbot, window):
    diagnose = window.diagnose
    window.session.set_workspace("diagnose")
    diagnose.controls.epsilon.setValue(8)
    with qtbot.waitSignal(diagnose.attack_shown, timeout=WAIT) as blocker:
        qtbot.mouseClick(diagnose.controls.run, Qt.LeftButton)
    shown = blocker.args[0]
    res, shift = shown.result, shown.shift
    assert res.norm <= 8 / 255 + 1e-6 and -1 <= shift["spearman"] <= 1
    summary = diagnose.attack_summary.text()
    assert "→" in summary and shown.method == "gradcam" and "Grad-CAM" in summary
    assert diagnose.views["attacked"].attr_map is shown.adversarial.map
    assert diagnose.views["clean"].attr_map is shown.clean.map
    for view in diagnose.views.values():
        assert view.width() >= 160 and view.height() >= 160


def test_attack_explains_the_adversarial_input_when_preprocessing_crops(qtbot, window):
    """resize 128 > crop 112 (as torchvision's 256/224): the attacked panel shows and explains
    ``res.x`` itself, so its prediction is the attack's ``after``; the selected method is used."""
    from core.models import Preprocess
    from core.models.demo import DEMO_MEAN, DEMO_STD

    s = window.session
    s.bundle.preprocess = Preprocess(crop=(112, 112), resize=128, mean=DEMO_MEAN, std=DEMO_STD)
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        s.open_image(s.image_path)
    assert s.explainer.display.shape == (112, 112, 3)
    window.explain.methods.select("saliency")
    diagnose = window.diagnose
    diagnose.controls.epsilon.setValue(8)
    diagnose.controls.steps.setValue(5)
    with qtbot.waitSignal(diagnose.attack_shown, timeout=WAIT) as blocker:
        diagnose.controls.attack_requested.emit(diagnose.controls.attack_args())
    shown = blocker.args[0]
    res = shown.result
    assert res.success and shown.adversarial.prediction[0][0] == res.after[0] != res.before[0]
    np.testing.assert_array_equal(shown.adversarial.image, res.pixels)
    assert shown.adversarial.image.shape == s.explainer.display.shape
    assert shown.method == "saliency" and shown.clean.image is s.explainer.display
    summary = diagnose.attack_summary.text()
    assert f"→ {s.bundle.label(res.after[0])}" in summary and "Saliency" in summary

    with qtbot.waitSignal(diagnose.epsilon_sweep_shown, timeout=WAIT) as blocker:
        diagnose.controls.epsilon_sweep_requested.emit({**diagnose.controls.attack_args(), "steps": 2})
    rows = blocker.args[0]
    assert len(rows) == 6 and {r["method"] for r in rows} == {"saliency"}
    assert "Saliency" in diagnose.sweep_plot.getPlotItem().titleLabel.text


def test_scan_and_counterfactual_in_the_background_lane(qtbot, window, tmp_path):
    from conftest import write_labelled_folder
    from core.datasets.shapes import generate

    # clean images: the biased model, which reads tags, gets most of them wrong
    write_labelled_folder(tmp_path / "set", generate(12, seed=3))
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.session.load_model("demo-biased", "none")
    window.session.set_workspace("dataset")
    panel = window.dataset.scan
    panel.set_source(str(tmp_path / "set"))
    with qtbot.waitSignal(window.dataset.scan_shown, timeout=WAIT) as blocker:
        qtbot.mouseClick(panel.scan_button, Qt.LeftButton)
        assert window.jobs.lane_busy("background")
        run_and_wait(qtbot, window, "saliency")  # the interactive lane keeps working meanwhile
    result = blocker.args[0]
    assert result.accuracy < 0.7 and panel.mistakes.rowCount() == int((result.labels != result.predictions).sum())
    with qtbot.waitSignal(window.dataset.counterfactual_shown, timeout=WAIT) as blocker:
        panel.mistakes.cellDoubleClicked.emit(0, 1)
    assert blocker.args[0].shape[1] > 3 * 128


@pytest.mark.parametrize("model,flagged", [("demo", False), ("demo-biased", True)])
def test_bias_report(qtbot, window, model, flagged):
    if model != "demo":
        with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
            window.session.load_model(model, "none")
    window.explain.methods.select("gradcam")
    with qtbot.waitSignal(window.dataset.bias_shown, timeout=WAIT) as blocker:
        window.dataset.run_bias_report(str(DEMO), "tag")
    assert blocker.args[0].flagged is flagged
    assert ("FLAGGED" if flagged else "not flagged") in window.dataset.scan.bias_summary.text()
    assert window.dataset.scan.bias_table.rowCount() >= 1
