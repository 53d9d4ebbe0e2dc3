"""The Dataset workspace driven like a person would (pytest-qt, offscreen): the virtualised
gallery, a run over demo images through the GUI, cohorts, clusters, opening an image in Explain,
and cancel then resume."""

import shutil
import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from desktop_helpers import WAIT, collect_between_tests, window  # noqa: F401  (fixtures)

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"


def _synthetic_rows(n: int) -> list[dict]:
    return [{"id": i + 1, "file": f"img_{i:05d}.png", "path": f"/nowhere/img_{i:05d}.png", "label": "star",
             "predicted": "star" if i % 3 else "ring", "label_index": 3, "predicted_index": 3 if i % 3 else 5,
             "confidence": 0.9} for i in range(n)]


def test_gallery_renders_only_visible_thumbnails_of_10000(qtbot):
    from desktop.dataset_gallery import GalleryModel, GalleryView

    rendered = []

    def render(row, overlay):
        rendered.append((row["id"], overlay))
        return np.full((8, 8, 3), 128, np.uint8)

    model = GalleryModel(render)
    model.set_rows(_synthetic_rows(10_000))
    view = GalleryView(model)
    qtbot.addWidget(view)
    view.resize(640, 420)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: model.idle() and model.renders > 0, timeout=5000)
    qtbot.wait(50)
    visible = set(view.visible_rows())
    assert 0 < len(visible) < 60
    assert {i for i, _ in rendered} == {model.rows[r]["id"] for r in visible}  # each visible one, nothing else
    assert model.renders == len(rendered) == len(visible)  # once each
    view.scrollTo(model.index(5000), GalleryView.PositionAtCenter)
    qtbot.waitUntil(lambda: model.idle() and 5001 in {i for i, _ in rendered}, timeout=5000)
    qtbot.wait(50)
    now = set(view.visible_rows())
    assert 5000 in now and len(rendered) == len(visible | now)  # the new screenful only
    view.viewport().update()
    qtbot.wait(50)
    assert len(rendered) == len(visible | now)  # repainting uses the cache
    model.set_overlay(True)
    qtbot.waitUntil(lambda: model.idle() and any(o for _, o in rendered), timeout=5000)
    qtbot.wait(50)
    assert {i for i, o in rendered if o} == {model.rows[r]["id"] for r in now}


@pytest.fixture
def eight(tmp_path):
    """Eight demo images with their ground_truth.json (classes, boxes, masks)."""
    truth = json.loads((DEMO / "ground_truth.json").read_text())
    truth["images"] = truth["images"][:8]
    folder = tmp_path / "eight"
    folder.mkdir()
    for entry in truth["images"]:
        for name in (entry["file"], entry.get("mask")):
            if name:
                shutil.copy(DEMO / name, folder / name)
    (folder / "ground_truth.json").write_text(json.dumps(truth))
    return folder


def _choose(ws, folder, methods, metrics, batch=0):
    ws.choose_data(str(folder))
    assert "<b>8 images</b> with true classes and boxes" in ws.panel.data_label.text()
    ws.panel.set_checked(ws.panel.methods, methods)
    ws.panel.set_checked(ws.panel.metrics, metrics)
    ws.panel.batch.setValue(batch)
    assert "8 images ×" in ws.panel.estimate.text()


def _store_rows(path):
    from core.workbench.store import open_store

    with open_store(path) as store:
        return list(store.db.execute("SELECT file, run_id FROM images ORDER BY id")), store.runs()


def test_run_fills_views_cohorts_clusters_and_opens_explain(qtbot, window, eight):
    ws = window.dataset
    window.session.set_workspace("dataset")
    _choose(ws, eight, ["gradcam"], ["iou"])
    with qtbot.waitSignal(ws.run_finished, timeout=WAIT) as blocker:
        qtbot.mouseClick(ws.panel.run_button, Qt.LeftButton)
    assert blocker.args[0].computed == 8
    results = ws.results
    qtbot.waitUntil(lambda: results.view is not None and len(results.view.table.rows) == 8
                    and not results.view.interrupted, timeout=WAIT)
    assert results.gallery.rowCount() == 8 and results.rows.rowCount() == 8
    header = [results.rows.headerData(i, Qt.Horizontal) for i in range(results.rows.columnCount())]
    assert header[-1] == "gradcam.iou ↑"  # the metric column says which way is better
    assert "higher is better" in results.rows.headerData(len(header) - 1, Qt.Horizontal, Qt.ToolTipRole)
    rows = results.view.table.rows
    correct = [r for r in rows if r["label_index"] == r["predicted_index"]]
    qtbot.mouseClick(results.chips.buttons["correct"], Qt.LeftButton)
    assert results.gallery.rowCount() == results.rows.rowCount() == len(correct) > 0
    assert {r["id"] for r in results.gallery.rows} == {r["id"] for r in correct}
    star = next(n for n in results.chips.buttons if n.startswith("class "))
    qtbot.mouseClick(results.chips.buttons[star], Qt.LeftButton)
    assert 0 < results.gallery.rowCount() < 8 and all(r["label"] == star[6:] for r in results.gallery.rows)
    qtbot.mouseClick(results.chips.buttons["all"], Qt.LeftButton)
    results.filter.setText("gradcam.iou>=0.3")
    results.filter.editingFinished.emit()
    assert results.gallery.rowCount() == len([r for r in rows if (r["gradcam.iou"] or 0) >= 0.3])
    results.filter.setText("")
    results.filter.editingFinished.emit()
    results.rows.sort(results.rows.columns.index("confidence"), Qt.DescendingOrder)  # a header click
    shown = [r["confidence"] for r in results.gallery.rows]
    assert shown == sorted(shown, reverse=True) and len(shown) == 8
    results.overlay.setChecked(True)
    qtbot.waitUntil(lambda: (results.view.path, "gradcam") in results.maps, timeout=WAIT)

    results.tabs.setCurrentWidget(results.clusters)
    with qtbot.waitSignal(ws.clusters_shown, timeout=WAIT) as blocker:
        qtbot.mouseClick(results.clusters.find, Qt.LeftButton)
    spray = blocker.args[0]
    view = results.clusters
    point = view.scatter.points()[-1]
    view.scatter.sigClicked.emit(view.scatter, [point], None)  # a click on the last point
    image_id = int(point.data())
    cluster = next(c for c in spray.clusters if image_id in c.ids)
    assert {r["id"] for r in view.members.rows} == set(cluster.ids)
    assert not view.mean.pixmap().isNull()

    row = view.members.rows[0]
    with qtbot.waitSignal(window.explanation_shown, timeout=WAIT,
                          check_params_cb=lambda r: r.method == "gradcam"):
        view.member_view.doubleClicked.emit(view.members.index(0))
    s = window.session
    assert s.workspace == "explain" and str(s.image_path) == row["path"]
    assert s.model.name == "demo" and s.method == "gradcam"


def test_cancel_then_resume_computes_every_image_once(qtbot, window, eight):
    ws = window.dataset
    _choose(ws, eight, ["gradcam"], [], batch=2)
    qtbot.mouseClick(ws.panel.run_button, Qt.LeftButton)
    qtbot.mouseClick(ws.panel.pause_button, Qt.LeftButton)  # pause after the batch in flight is saved
    qtbot.waitUntil(lambda: ws.panel.progress.value() >= 2, timeout=WAIT)
    qtbot.wait(400)
    done = ws.panel.progress.value()
    assert done < 8 and "paused" in ws.panel.progress_label.text()
    with qtbot.waitSignal(ws.run_stopped, timeout=WAIT):
        qtbot.mouseClick(ws.panel.cancel_button, Qt.LeftButton)
    rows, runs = _store_rows(ws.store)
    assert len(rows) == done and runs[-1]["finished"] is None
    qtbot.waitUntil(lambda: ws.panel.resume_button.isEnabled(), timeout=WAIT)
    with qtbot.waitSignal(ws.run_finished, timeout=WAIT) as blocker:
        qtbot.mouseClick(ws.panel.resume_button, Qt.LeftButton)
    assert blocker.args[0].computed == 8 - done
    rows, runs = _store_rows(ws.store)
    files = [f for f, _ in rows]
    assert len(files) == len(set(files)) == 8 and len(runs) == 2 and runs[-1]["finished"] is not None
    assert sum(run == runs[-1]["id"] for _, run in rows) == 8 - done
