"""Readable maps: colour bar, diverging colours for signed maps, the value under the cursor,
"not computed" messages, and the CLI overlay agreeing with the canvas (pytest-qt, offscreen)."""

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from core import render
from desktop.canvas import ImageCanvas, format_value


@pytest.fixture
def canvas(qtbot):
    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(640, 480)
    c.show()
    qtbot.waitExposed(c)
    return c


def _image(h=40, w=60):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _signed_map(h=40, w=60):
    m = np.linspace(-1.0, 2.0, h * w, dtype=np.float32).reshape(h, w)
    m[5, 7] = 0.0
    return m


def _widget_pos(canvas, x, y):
    """Widget coordinates of the centre of image pixel (x, y)."""
    scene = canvas.view.mapViewToScene(QPointF(x + 0.5, y + 0.5))
    return QPointF(canvas.mapFromScene(scene))


# --- render --------------------------------------------------------------------------------

def test_colormaps_default_and_tables():
    assert next(iter(render.COLORMAPS)) == render.DEFAULT_CMAP == "viridis"
    assert {"jet", "viridis", "coolwarm", "turbo", "inferno"} <= set(render.COLORMAPS)
    gray = np.arange(256, dtype=np.uint8).reshape(256, 1)
    jet = cv2.cvtColor(cv2.applyColorMap(gray, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB).reshape(256, 3)
    assert (render.lut("jet") == jet).all()
    cool = render.lut("coolwarm").astype(int)
    assert cool[0, 2] > cool[0, 0] and cool[255, 0] > cool[255, 2]  # blue → red
    assert np.ptp(cool[128]) <= 3 and cool[128].min() > 200  # a light neutral middle
    with pytest.raises(ValueError):
        render.lut("nope")


def test_signed_is_decided_from_the_data():
    assert render.is_signed(np.array([-1.0, 0.0, 2.0]))
    assert not render.is_signed(np.array([-1e-6, 0.0, 2.0]))  # numerical noise below zero
    assert not render.is_signed(np.array([0.0, 1.0]))
    lo, hi, signed = render.display_range(np.array([[-1.0, 3.0]]), percentile=100)
    assert (lo, hi, signed) == (-3.0, 3.0, True)
    assert render.display_range(np.array([[-1.0, 3.0]]), signed=False, percentile=100)[2] is False
    assert render.resolve_cmap("jet", True) == "coolwarm" and render.resolve_cmap("jet", False) == "jet"


# --- canvas --------------------------------------------------------------------------------

def test_colour_bar_shows_the_raw_range(canvas):
    m = np.random.default_rng(1).random((40, 60)).astype(np.float32) * 0.03 + 0.01
    canvas.set_image(_image())
    canvas.set_map(m)
    lo, hi = canvas.colorbar_range()
    assert lo == pytest.approx(float(m.min())) and hi == pytest.approx(float(m.max()))
    ymin, ymax = canvas.bar.viewRange()[1]
    assert ymin == pytest.approx(lo) and ymax == pytest.approx(hi)
    assert canvas.bar.scene() is not None  # the bar is in the layout
    assert format_value(lo) in canvas.readout.text and format_value(hi) in canvas.readout.text
    assert canvas.shown_cmap == "viridis" and not canvas.signed_shown
    colors = canvas.colorbar_colors()
    assert (colors[-1] == render.lut("viridis")[255]).all()


def test_signed_map_uses_a_diverging_colormap_centred_on_zero(canvas):
    m = _signed_map()
    canvas.set_image(_image())
    canvas.set_cmap("jet")
    canvas.set_map(m)
    assert canvas.signed_shown and canvas.shown_cmap == "coolwarm"
    lo, hi = canvas.levels
    assert lo == pytest.approx(-hi)
    middle = render.lut("coolwarm")[128]
    assert (canvas.overlay_rgba()[5, 7, :3] == middle).all()  # zero → the middle colour
    # the bar spans the raw min..max; its colour at 0 is the middle colour too
    values = np.linspace(*canvas.colorbar_range(), len(canvas.colorbar_colors()))
    at_zero = canvas.colorbar_colors()[np.argmin(np.abs(values))].astype(int)
    assert np.abs(at_zero - middle.astype(int)).max() <= 3
    assert canvas.bar_zero.isVisible()
    canvas.set_map(m, signed=False)  # the caller may decide
    assert not canvas.signed_shown and canvas.shown_cmap == "jet"
    canvas.set_map(np.abs(m))
    assert not canvas.signed_shown


def test_hover_reports_the_raw_value(qtbot, canvas):
    m = _signed_map()
    canvas.set_image(_image())
    canvas.set_map(m)
    viewport = canvas.viewport()
    pos = _widget_pos(canvas, 13, 21)
    with qtbot.waitSignal(canvas.value_hovered, timeout=2000) as blocker:
        event = QMouseEvent(QEvent.MouseMove, pos, QPointF(viewport.mapToGlobal(pos.toPoint())),
                            Qt.NoButton, Qt.NoButton, Qt.NoModifier)
        QApplication.sendEvent(viewport, event)
    x, y, value = blocker.args
    assert (x, y) == (13, 21)
    assert value == pytest.approx(float(m[21, 13]))
    assert canvas.value_at(13, 21) == pytest.approx(float(m[21, 13]))
    assert format_value(value) in canvas.readout.text
    assert canvas.bar_marker.isVisible() and canvas.bar_marker.value() == pytest.approx(value)
    assert canvas.value_at(60, 0) is None and canvas.value_at(-1, 3) is None


def test_clear_map_shows_a_message_instead_of_a_stale_map(canvas):
    canvas.set_image(_image())
    canvas.set_map(_signed_map())
    canvas.add_box((1, 1, 10, 10), label="box")
    canvas.clear_map("not computed — Run (≈ 3 s)")
    assert canvas.attr_map is None and canvas.overlay_rgba() is None
    assert canvas.colorbar_range() is None and canvas.bar.scene() is None
    assert canvas.message == "not computed — Run (≈ 3 s)"
    item = canvas._message_item
    assert item is not None and item.isVisible() and item.textItem.toPlainText() == canvas.message
    assert item.pos().x() == pytest.approx(30) and item.pos().y() == pytest.approx(20)  # centred
    canvas.set_map(_signed_map())
    assert canvas.message is None and canvas._message_item is None
    canvas.clear_map()
    assert canvas.message is None


def test_shared_range(canvas):
    canvas.set_image(_image())
    m = np.random.default_rng(2).random((40, 60)).astype(np.float32)
    canvas.set_shared_range(0.0, 5.0)
    canvas.set_map(m)
    assert canvas.levels == (0.0, 5.0) and canvas.colorbar_range() == (0.0, 5.0)
    assert "shared scale" in canvas.readout.text
    canvas.set_map(_signed_map())
    assert canvas.levels == (-5.0, 5.0)
    canvas.set_shared_range(None)
    assert canvas.colorbar_range() == pytest.approx((-1.0, 2.0))
    assert render.value_range(m, _signed_map()) == pytest.approx((-1.0, 2.0))


@pytest.mark.parametrize("cmap", ["viridis", "jet", "coolwarm"])
@pytest.mark.parametrize("signed", [False, True])
def test_cli_overlay_matches_the_canvas(canvas, cmap, signed):
    img = _image()
    m = _signed_map() if signed else np.abs(_signed_map())
    canvas.set_image(img)
    canvas.set_cmap(cmap)
    canvas.set_opacity(0.6)
    canvas.set_map(m)
    shown = canvas.overlay_rgba()
    assert (shown[..., :3] == render.colorize(m, cmap)).all()
    assert (render.overlay(img, m, 0.6, cmap) == render.blend(img, shown, canvas.opacity)).all()
    # at a few values, the exported colour (full opacity, full weight) is the canvas LUT colour
    table = render.lut(canvas.shown_cmap)
    for y, x in (np.unravel_index(np.argmax(m), m.shape), np.unravel_index(np.argmin(m), m.shape), (5, 7)):
        idx = render.to_index(render.rescale(np.array([m[y, x]]), *canvas.levels))[0]
        assert (shown[y, x, :3] == table[idx]).all()
    top = np.unravel_index(np.argmax(m), m.shape)
    assert (render.overlay(img, m, 1.0, cmap)[top] == table[255]).all()


def test_screen_colour_equals_lut(qtbot, canvas):
    """What is drawn on screen: a block at the top value shows exactly the LUT's last colour."""
    img = np.full((20, 20, 3), 128, np.uint8)
    m = np.zeros((20, 20), np.float32)
    m[:, :10] = 1.0
    canvas.set_image(img)
    canvas.set_cmap("jet")
    canvas.set_opacity(1.0)
    canvas.set_map(m)
    qtbot.wait(50)
    shot = canvas.grab().toImage()
    pos = _widget_pos(canvas, 4, 10).toPoint()
    pixel = shot.pixelColor(pos.x() * shot.devicePixelRatio(), pos.y() * shot.devicePixelRatio())
    assert (pixel.red(), pixel.green(), pixel.blue()) == tuple(int(c) for c in render.lut("jet")[255])


def test_existing_api_still_works(canvas):
    canvas.set_image(_image())
    canvas.set_map(np.abs(_signed_map()))
    canvas.set_opacity(0.8)
    assert canvas.overlay_item.opacity() == pytest.approx(0.8)
    canvas.add_box((2, 3, 20, 30), "#ff9100", "map box")
    canvas.add_point(5, 6)
    assert len(canvas._shapes) == 3
    canvas.clear_shapes()
    assert canvas._shapes == []
    canvas.show_patch(10)
    assert canvas.patch_box() == (25, 15, 35, 25)
    canvas.hide_patch()
    with pytest.raises(ValueError):
        canvas.set_cmap("nope")
    image_only = ImageCanvas(colorbar=False)
    image_only.set_image(_image())
    image_only.set_map(_signed_map())
    assert image_only.bar.scene() is None and image_only.colorbar_range() is not None
    image_only.deleteLater()


def test_message_without_an_image(canvas):
    canvas.clear_map("Open an image")
    centre = canvas.view.viewRect().center()
    assert canvas._message_item.pos().x() == pytest.approx(centre.x())
    assert canvas.attr_map is None and canvas.colorbar_range() is None
