"""The Units workspace driven like a person would, offscreen (pytest-qt), on the demo model: one
tile per channel rendered only when visible, ordering against core.units, a clicked channel's
activation and unit-target maps, the class-specific units against core.units.class_units, no stale
grid after the image changes, and the background synthesis and top images."""

import numpy as np
from PySide6.QtCore import Qt

from desktop_helpers import WAIT, collect_between_tests, window  # noqa: F401  (fixtures)
from desktop.units_grid import ChannelGrid

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"


def _open_units(qtbot, window):
    ws = window.units
    with qtbot.waitSignal(ws.maps_shown, timeout=WAIT):
        window.session.set_workspace("units")
    return ws


def _click_tile(qtbot, grid, row):
    index = grid.channels.index(row)
    grid.scrollTo(index)
    qtbot.mouseClick(grid.viewport(), Qt.LeftButton, pos=grid.visualRect(index).center())


def test_grid_renders_only_the_visible_tiles_of_a_wide_layer(qtbot):
    grid = ChannelGrid()
    qtbot.addWidget(grid)
    grid.resize(520, 360)
    maps = np.random.default_rng(0).random((2048, 7, 7), dtype=np.float32)
    grid.channels.set_maps(maps)
    grid.show()
    qtbot.waitExposed(grid)
    qtbot.wait(50)
    assert grid.channels.rowCount() == 2048
    first = grid.channels.renders
    assert 0 < first < 100  # a screenful, not 2,048
    grid.verticalScrollBar().setValue(grid.verticalScrollBar().maximum())
    qtbot.wait(50)
    assert first < grid.channels.renders < 200
    assert grid.channels.channel(grid.indexAt(grid.viewport().rect().center()).row()) > 1500


def test_one_tile_per_channel_sorted_by_max_like_core(qtbot, window):
    from core.units import channel_maps, rank_channels

    ws = _open_units(qtbot, window)
    s = window.session
    assert ws.layer == s.layer == "features"
    maps = channel_maps(s.bundle, s.explainer.x, "features")
    model = ws.grid.channels
    assert model.rowCount() == len(maps) == 192
    assert np.allclose(model.maps, maps)
    qtbot.waitUntil(lambda: model.renders > 0, timeout=WAIT)
    assert model.renders < 192  # only the visible tiles were drawn
    ws.order.setCurrentIndex(ws.order.findData("max"))
    assert model.channel(0) == rank_channels(maps, "max")[0]
    assert [model.channel(r) for r in range(192)] == list(rank_channels(maps, "max"))
    ws.order.setCurrentIndex(ws.order.findData("mean"))
    assert model.channel(0) == rank_channels(maps, "mean")[0]
    with qtbot.waitSignal(ws.maps_shown, timeout=WAIT):
        ws.layers.setCurrentIndex(ws.layers.findData("features.2"))
    assert model.rowCount() == 64


def test_clicking_a_channel_shows_its_activation_and_unit_target_maps(qtbot, window):
    from core.targets import UnitTarget
    from desktop.units_adapters import upsample

    ws = _open_units(qtbot, window)
    s = window.session
    with qtbot.waitSignal(ws.unit_map_shown, timeout=WAIT) as shown:
        _click_tile(qtbot, ws.grid, 3)
    c = ws.grid.channels.channel(3)
    assert ws.channel == c and f"features:{c}" in ws.detail.header.text()
    expected = upsample(ws.grid.channels.maps[c], (128, 128))
    assert np.allclose(ws.detail.activation.attr_map, expected)
    result = shown.args[0]
    assert result.target == UnitTarget("features", c) and result.method == "guided_backprop"
    direct = s.explainer.explain("guided_backprop", target=UnitTarget("features", c))
    assert np.allclose(result.map, direct.map) and ws.detail.unit_map.attr_map is result.map
    with qtbot.waitSignal(ws.unit_map_shown, timeout=WAIT,
                          check_params_cb=lambda r: r.method == "gradcam") as shown:
        ws.detail.method.setCurrentIndex(ws.detail.method.findData("gradcam"))
    assert shown.args[0].layer == "features.8" and "last block before" in ws.detail.unit_note.text()


def test_class_specific_units_match_core_and_select_a_channel(qtbot, window):
    from core.units import class_units

    ws = _open_units(qtbot, window)
    s = window.session
    if not ws.classes.units:
        qtbot.waitUntil(lambda: bool(ws.classes.units), timeout=WAIT)
    expected = class_units(s.bundle, s.explainer.x, s.target_index(), "features", top=8)
    shown = ws.classes.units
    assert [u["channel"] for u in shown] == [u["channel"] for u in expected]
    assert np.allclose([u["contribution"] for u in shown], [u["contribution"] for u in expected])
    assert "final-layer weight × mean activation" in ws.classes.ranking.text()
    assert ws.classes.list.count() == 8
    item = ws.classes.list.item(1)
    with qtbot.waitSignal(ws.unit_map_shown, timeout=WAIT):
        qtbot.mouseClick(ws.classes.list.viewport(), Qt.LeftButton, pos=ws.classes.list.visualItemRect(item).center())
    assert ws.channel == expected[1]["channel"]
    assert ws.grid.channels.channel(ws.grid.currentIndex().row()) == expected[1]["channel"]
    # another class, and a layer without a GAP + linear head: the gradient ranking, labelled
    with qtbot.waitSignal(ws.class_units_shown, timeout=WAIT) as other:
        ws.classes.classes.setCurrentIndex(ws.classes.classes.findData(0))
    assert [u["channel"] for u in other.args[0]] == [
        u["channel"] for u in class_units(s.bundle, s.explainer.x, 0, "features", top=8)]
    with qtbot.waitSignal(ws.class_units_shown, timeout=WAIT) as grad:
        ws.layers.setCurrentIndex(ws.layers.findData("features.7"))
    assert {u["ranking"] for u in grad.args[0]} == {"gradient"}
    assert "gradient weight × mean activation" in ws.classes.ranking.text()


def test_changing_the_image_refreshes_the_grid_without_a_stale_one(qtbot, window):
    from core.units import channel_maps

    ws = _open_units(qtbot, window)
    s = window.session
    old = ws.grid.channels.maps.copy()
    seen = []
    s.image_changed.connect(lambda: seen.append((ws.grid.channels.rowCount(), ws.detail.activation.attr_map)))
    with qtbot.waitSignal(ws.maps_shown, timeout=WAIT) as shown:
        s.open_image(DEMO / "clean_circle.png")
    assert seen == [(0, None)]  # at the change: an empty grid, never the previous image's
    fresh = channel_maps(s.bundle, s.explainer.x, "features")
    assert np.allclose(shown.args[0]["maps"], fresh) and not np.allclose(fresh, old)
    assert ws.grid.channels.rowCount() == 192 and "clean_circle" in ws.state.text()


def test_synthesis_and_top_images_in_the_background(qtbot, window):
    from core.images import load_image
    from core.units import cached_synthesis, top_images, unit_image_files

    ws = _open_units(qtbot, window)
    s = window.session
    with qtbot.waitSignal(ws.unit_map_shown, timeout=WAIT):
        ws.select_channel(5)
    ws.detail.steps.setValue(3)
    qtbot.waitUntil(lambda: "Not made yet" in ws.detail.synthesis_note.text(), timeout=WAIT)
    with qtbot.waitSignal(ws.synthesis_shown, timeout=WAIT) as made:
        qtbot.mouseClick(ws.detail.synthesise, Qt.LeftButton)
    assert made.args[0].shape == (128, 128, 3) and ws.detail.synthesis.image is made.args[0]
    assert np.array_equal(cached_synthesis(s.bundle, "features", 5, {"steps": 3}), made.args[0])  # saved on disk
    with qtbot.waitSignal(ws.crops_shown, timeout=WAIT) as crops:
        ws.set_source(str(DEMO))
    files = unit_image_files(DEMO)
    expected = top_images(s.bundle, files, "features", k=9).of(5)
    got = crops.args[0]
    assert [c["file"] for c in got] == [e["file"] for e in expected]
    assert np.allclose([c["activation"] for c in got], [e["activation"] for e in expected])
    assert all(c["crop"].size and c["crop"].shape[2] == 3 for c in got)
    assert ws.detail.top.captions[0].text() == f"{got[0]['activation']:.3g}"
    x0, y0, x1, y1 = got[0]["box"]
    display, _ = s.bundle.prepare(load_image(got[0]["file"]))
    assert np.array_equal(got[0]["crop"], display[y0:y1, x0:x1])


def _store_of(path, files):
    """A dataset run store holding ``files`` (what ``dataset run`` writes, minus maps)."""
    from core.workbench.store import ImageRecord, RunStore

    with RunStore(path, create=True) as store:
        run = store.begin_run(model_spec={"spec": "demo"}, weights_hash="", versions={}, params={}, seed=0,
                              data="demo", executor="local")
        store.write_batch([ImageRecord(f.name, str(f), None, None, None, 128, 128, 0, 1.0, [], 0.0) for f in files],
                          [], run)
    return path


def test_top_images_from_a_dataset_run(qtbot, window, tmp_path):
    from core.units import top_images

    files = sorted(DEMO.glob("clean_*[!k].png"))[:4]
    store = _store_of(tmp_path / "run.sqlite", files)
    ws = _open_units(qtbot, window)
    with qtbot.waitSignal(ws.unit_map_shown, timeout=WAIT):
        ws.select_channel(7)
    with qtbot.waitSignal(ws.crops_shown, timeout=WAIT) as crops:
        ws.set_source(str(store))
    expected = top_images(window.session.bundle, [str(f) for f in files], "features", k=9).of(7)
    assert [c["file"] for c in crops.args[0]] == [e["file"] for e in expected] and len(expected) == 4
    assert "Best 4 of 4 images in run.sqlite" in ws.detail.top_note.text()
