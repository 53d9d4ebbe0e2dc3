"""Issue 14 in the window: sanity badges beside the methods, every registered metric explained and
reachable from the metrics panel with its curve on its own axes, and the disagreement view in
Compare. Driven like a user would (pytest-qt, offscreen), on the demo model."""

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from desktop_helpers import WAIT, collect_between_tests, window  # noqa: F401  (fixtures)
from core.metrics.disagreement import method_ranks
from core.metrics.registry import all_metrics
from core.metrics.sanity_verdict import BARELY, DEPENDS

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"
SANITY_IMAGES = [DEMO / n for n in ("biased_circle.png", "biased_square.png", "biased_triangle.png")]


def _check(qtbot, window, method):
    panel = window.explain.methods
    panel.select(method)
    assert panel.sanity_check.isVisible() and "not run yet" in panel.sanity_text()
    with qtbot.waitSignal(window.explain.sanity.verdict_shown, timeout=WAIT,
                          check_params_cb=lambda m, v: m == method) as blocker:
        qtbot.mouseClick(panel.sanity_check, Qt.LeftButton)
        assert "running" in panel.sanity_text()
    return blocker.args[1]


def test_sanity_badges_known_answer_and_cascade(qtbot, window):
    window.explain.sanity.images = SANITY_IMAGES  # three images keep it quick; the rule is the same
    panel = window.explain.methods
    gradcam = _check(qtbot, window, "gradcam")
    assert gradcam["passes"] and DEPENDS in panel.sanity_text() and panel.sanity_text().startswith("✓")
    gbp = _check(qtbot, window, "guided_backprop")
    assert not gbp["passes"] and BARELY in panel.sanity_text() and panel.sanity_text().startswith("⚠")
    assert gbp["top_similarity"] >= 0.8 > gradcam["top_similarity"]
    # beside each method in the picker, too
    assert panel.method.itemText(panel.method.findData("guided_backprop")).endswith("⚠")
    assert panel.method.itemText(panel.method.findData("gradcam")).endswith("✓")
    # the cascade curve on demand: one point per randomised block, the 0.8 rule line
    assert panel.sanity_curve.isVisible() and not panel.sanity_check.isVisible()
    qtbot.mouseClick(panel.sanity_curve, Qt.LeftButton)
    dialog = window.explain.sanity.dialog
    assert dialog.isVisible() and BARELY in dialog.summary.text()
    curves = [i for i in dialog.plot.getPlotItem().items if isinstance(i, pg.PlotDataItem)]
    assert len(curves) == 1
    np.testing.assert_allclose(curves[0].yData, list(gbp["similarity"].values()))
    rules = [i for i in dialog.plot.getPlotItem().items if isinstance(i, pg.InfiniteLine)]
    assert [r.value() for r in rules] == [pytest.approx(0.8)]
    assert "randomised" in dialog.plot.getAxis("bottom").labelText
    dialog.close()
    # cached on disk per weights: a fresh load shows both verdicts without computing them
    window.session.select_key(window.session.key("explanation", method="gradcam"))
    with qtbot.waitSignal(window.explain.sanity.verdict_shown, timeout=WAIT,
                          check_params_cb=lambda m, v: m == "guided_backprop") as blocker:
        window.session.load_model("demo", "none")
    assert blocker.args[1]["cached"] and blocker.args[1]["passes"] is False
    qtbot.waitUntil(lambda: DEPENDS in panel.sanity_text(), timeout=WAIT)
    assert not window.jobs.busy or window.jobs.running_kind("background") != "sanity"


def test_every_metric_explained_in_the_checklist(qtbot, window):
    panel = window.explain.metrics
    specs = all_metrics()
    items = {panel.choice.item(i).data(Qt.UserRole): panel.choice.item(i) for i in range(panel.choice.count())}
    assert set(items) == set(specs)
    for name, spec in specs.items():
        item = items[name]
        assert item.text().startswith(spec.label)
        assert all(out.arrow in item.text() for out in spec.outputs)
        tip = item.toolTip()
        assert spec.sentence in tip and spec.citation in tip
        assert all(out.describe() in tip for out in spec.outputs)
    # each metric's parameters from its schema, with the paper's default in the tooltip
    qtbot.mouseClick(panel.settings_button, Qt.LeftButton)
    threshold = panel.settings.widgets["iou"]["threshold"]
    assert threshold.value() == pytest.approx(0.15) and "Grad-CAM" in threshold.toolTip()
    threshold.setValue(0.2)  # the CAM paper's threshold
    panel.settings.accept()
    assert panel.metric_params == {"iou": {"threshold": pytest.approx(0.2)}}
    assert panel.settings_button.text().endswith("*")
    # and no sanity badge for a method that makes no map
    methods = window.explain.methods
    methods.select("activation_maximization")
    assert not methods.sanity_row.isVisible() and methods.sanity_text() == ""


def test_registry_round_trip_every_metric_from_the_gui(qtbot, window):
    """Tick every registered metric, compute, and read a value row for each output from the panel,
    and each curve on axes named by its own metric."""
    panel = window.explain.metrics
    specs = all_metrics()
    panel.set_chosen(list(specs))
    small = {"aopc_morf": {"steps": 10}, "aopc_lerf": {"steps": 10}, "max_sensitivity": {"samples": 2}}
    panel.set_metric_params(small)  # the slow ones, smaller (schema parameters)
    with qtbot.waitSignal(window.explain.metrics_shown, timeout=3 * WAIT) as blocker:  # ~6 s on an idle CPU
        qtbot.mouseClick(panel.compute, Qt.LeftButton)
    results = blocker.args[0]
    assert set(results) == set(specs)  # the demo image has box, mask and label: everything runs
    assert results["aopc_morf"].details["steps"] == 10 and len(results["max_sensitivity"].details["samples"]) == 2
    outputs = [out for spec in specs.values() for out in spec.outputs]
    assert set(panel.values) == {out.name for out in outputs}
    assert panel.table.rowCount() == len(outputs)
    rows = {panel.table.item(r, 0).text(): (panel.table.item(r, 1).text(), panel.table.item(r, 2).text())
            for r in range(panel.table.rowCount())}
    for out in outputs:
        assert rows[out.label][1] == f"{out.arrow} {out.direction}" and rows[out.label][0] != "—"
    # the curves: one selector entry per set of axes; each drawn on its own named axes
    with_curve = {n for n, spec in specs.items() if spec.curve_view(results[n]) is not None}
    assert {"deletion", "insertion", "aopc_morf", "road_morf", "stability_noise", "sanity"} <= with_curve
    entries = panel.curve_names()
    assert "Deletion / Insertion" in entries and "Stability under noise" in entries
    assert len(entries) == len({specs[n].curve_view(results[n]).axes for n in with_curve})
    for entry in entries:
        panel.show_curve(entry)
        views = panel.curves[entry]
        assert panel.plot.getAxis("bottom").labelText == views[0].x_label
        assert panel.plot.getAxis("left").labelText == views[0].y_label
        drawn = [i for i in panel.plot.getPlotItem().items if isinstance(i, pg.PlotDataItem)]
        assert len(drawn) == sum(len(v.series) for v in views)
    panel.set_metric_params({})  # the shown values no longer match the settings: the panel says so
    assert "other metric settings" in panel.state.text()
    panel.show_curve("Stability under noise")
    x = [i for i in panel.plot.getPlotItem().items if isinstance(i, pg.PlotDataItem)][0].xData
    assert list(x) == [0.02, 0.05, 0.1] and "noise" in panel.plot.getAxis("bottom").labelText


def test_metrics_without_ground_truth_say_what_they_need(qtbot, window, tmp_path):
    import shutil

    image = tmp_path / "no_truth.png"
    shutil.copy(DEMO / "clean_star.png", image)
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT):
        window.session.open_image(image)
    panel = window.explain.metrics
    panel.set_chosen(["sparseness", "iou"])
    with qtbot.waitSignal(window.explain.metrics_shown, timeout=WAIT) as blocker:
        qtbot.mouseClick(panel.compute, Qt.LeftButton)
    assert set(blocker.args[0]) == {"sparseness"}
    rows = {panel.table.item(r, 0).text(): panel.table.item(r, 2).text() for r in range(panel.table.rowCount())}
    assert rows["Box IoU"] == "needs a ground-truth box" and "sparseness (Gini index)" in rows


def test_disagreement_ranks_in_compare(qtbot, window):
    s = window.session
    s.set_workspace("compare")
    compare, view = window.compare, window.compare.disagreement
    methods = ["gradcam", "saliency", "guided_backprop"]
    compare.set_chosen(methods)
    view.set_chosen(["deletion", "insertion", "sparseness"])
    assert "not computed" in view.state.text() and view.ranks.rowCount() == 0
    with qtbot.waitSignal(view.ranked, timeout=WAIT) as blocker:
        qtbot.mouseClick(view.run_button, Qt.LeftButton)
    value = blocker.args[0]
    scores = value["scores"]
    assert set(scores) == set(methods) and all(set(row) == {"deletion", "insertion", "sparseness"}
                                               for row in scores.values())
    assert value["ranks"] == method_ranks(scores)
    best_deletion = min(methods, key=lambda m: scores[m]["deletion"])  # lower is better
    best_insertion = max(methods, key=lambda m: scores[m]["insertion"])  # higher is better
    assert value["ranks"]["deletion"][best_deletion] == 1 and value["ranks"]["insertion"][best_insertion] == 1
    # the table says the same, with each metric's direction
    assert view.ranks.rowCount() == 3 and view.ranks.columnCount() == 3
    assert view.ranks.verticalHeaderItem(0).text() == "Deletion ↓"
    headers = [view.ranks.horizontalHeaderItem(c).text().replace("\n", " ") for c in range(3)]
    col = headers.index(s.spec(best_deletion).label)
    assert view.ranks.item(0, col).text() == "1" and view.ranks.item(0, col).font().bold()
    assert [view.agreement.item(i, i).text() for i in range(3)] == ["+1.00"] * 3
    assert view.verdict.text()
    # the maps it needed are the session's: the grid shows them
    for m in methods:
        assert compare.cells[m].canvas.attr_map is s.result("explanation", method=m).map
    # what is shown matches what is asked
    view.set_chosen(["deletion", "insertion"])
    assert view.ranks.rowCount() == 0 and "not computed" in view.state.text()
    view.set_chosen(["deletion", "insertion", "sparseness"])
    assert view.ranks.rowCount() == 3
    # a long ranking can be cancelled
    view.set_chosen(list(all_metrics()))
    with qtbot.waitSignal(window.jobs.progressed, timeout=WAIT,
                          check_params_cb=lambda i, kind, *a: kind == "disagreement"):
        qtbot.mouseClick(view.run_button, Qt.LeftButton)
    assert view.cancel_button.isEnabled()
    qtbot.mouseClick(view.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.state.text() == "cancelled", timeout=WAIT)
    assert view.ranks.rowCount() == 0 and not view.cancel_button.isEnabled()
    assert view.current() is None  # the earlier ranking (other metrics) stays cached, not shown
