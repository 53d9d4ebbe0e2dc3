"""The image canvas: the image exactly as the model sees it, a heatmap overlay with its colour bar
and a value readout, boxes and points."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore
from PySide6.QtCore import QPointF, QRectF, Signal

from core import render

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

BACKGROUND = "#202124"
BAR_WIDTH = 84
BAR_STEPS = 256


def format_value(value: float, scale: float = 0.0) -> str:
    """A raw map value, short and readable (3 significant digits); "≈ 0" when it is below
    1/10000 of ``scale`` (the largest magnitude of the map)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    if abs(value) < 1e-4 * scale:
        return "≈ 0"
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


class _Readout(pg.LabelItem):
    """A one-line label that never asks for more width than the canvas gives it."""

    def updateMin(self):
        height = self.itemRect().height()
        self.setMinimumWidth(0)
        self.setMinimumHeight(height)
        size = QtCore.Qt.SizeHint
        self._sizeHint = {size.MinimumSize: (0, height), size.PreferredSize: (0, height),
                          size.MaximumSize: (-1, -1), size.MinimumDescent: (0, 0)}
        self.updateGeometry()


class ImageCanvas(pg.GraphicsLayoutWidget):
    """Image + overlay (opacity, colormap) with zoom and pan; a colour bar with the map's raw value
    range; the raw value under the cursor; boxes and points drawn on top; an optional draggable
    occlusion patch reporting its box while dragged and when released."""

    patch_moved = Signal(tuple)  # (x0, y0, x1, y1) in image pixels
    patch_released = Signal(tuple)
    value_hovered = Signal(int, int, float)  # column, row, raw map value under the cursor

    def __init__(self, parent=None, colorbar: bool = True):
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.view = self.addViewBox(row=0, col=0, lockAspect=True, invertY=True)
        self.view.setMenuEnabled(False)
        self.image_item = pg.ImageItem()
        self.overlay_item = pg.ImageItem()
        self.overlay_item.setZValue(10)
        self.view.addItem(self.image_item)
        self.view.addItem(self.overlay_item)
        self._shapes: list = []
        self.image: np.ndarray | None = None
        self.attr_map: np.ndarray | None = None
        self.opacity = 0.5
        self.cmap = render.DEFAULT_CMAP
        self.patch: pg.RectROI | None = None
        self.signed: bool | None = None  # None: decided from the data
        self.shared_range: tuple[float, float] | None = None
        self.levels: tuple[float, float] | None = None  # raw values drawn with the first/last colour
        self.shown_cmap: str | None = None  # colormap in use (diverging for signed maps)
        self.signed_shown = False  # whether the map on screen is drawn as a signed map
        self._bar_range: tuple[float, float] = (0.0, 1.0)
        self.message: str | None = None
        self.hovered: tuple[int, int, float] | None = None
        self._message_item: pg.TextItem | None = None
        self._build_colorbar(colorbar)
        self.scene().sigMouseMoved.connect(self._mouse_moved)

    # --- colour bar and readout --------------------------------------------------------------

    def _build_colorbar(self, enabled: bool) -> None:
        self._bar_enabled = enabled
        self.bar = pg.PlotItem()
        self.bar.setMenuEnabled(False)
        self.bar.setMouseEnabled(False, False)
        self.bar.hideButtons()
        self.bar.hideAxis("bottom")
        self.bar.hideAxis("left")
        self.bar.showAxis("right")
        self.bar.getAxis("right").setWidth(58)
        self.bar.setMaximumWidth(BAR_WIDTH)
        self.bar.setMinimumWidth(BAR_WIDTH)
        self.bar.setXRange(0, 1, padding=0)
        self.bar_image = pg.ImageItem()
        self.bar.addItem(self.bar_image)
        self.bar_zero = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#000000", width=1, style=pg.QtCore.Qt.DashLine))
        self.bar_marker = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#ffeb3b", width=2))
        self.bar.addItem(self.bar_zero)
        self.bar.addItem(self.bar_marker)
        self.readout = _Readout("", color="#e8eaed", size="9pt", justify="left")
        self._bar_shown = False

    def _show_bar(self, shown: bool) -> None:
        shown = shown and self._bar_enabled
        if shown == self._bar_shown:
            return
        if shown:
            self.ci.addItem(self.bar, row=0, col=1)
            self.ci.addItem(self.readout, row=1, col=0, colspan=2)
        else:
            self.ci.removeItem(self.bar)
            self.ci.removeItem(self.readout)
        self._bar_shown = shown

    def colorbar_range(self) -> tuple[float, float] | None:
        """(bottom, top) raw values of the colour bar; None when no map is shown."""
        return self._bar_range if self.attr_map is not None else None

    def colorbar_colors(self) -> np.ndarray | None:
        """The bar's colours, bottom to top (BAR_STEPS×3 RGB)."""
        return None if self.attr_map is None else self.bar_image.image[:, 0, :]

    def _update_colorbar(self) -> None:
        if self.shared_range is not None:
            lo, hi = self.shared_range
        else:
            lo, hi = render.value_range(self.attr_map)
        self._bar_range = (lo, hi)
        if hi <= lo:  # a flat map: give the bar some height around its one value
            pad = abs(lo) * 0.01 or 0.5
            lo, hi = lo - pad, hi + pad
        values = np.linspace(lo, hi, BAR_STEPS, dtype=np.float64)
        n = render.rescale(values, *self.levels)
        colors = render.lut(self.shown_cmap)[render.to_index(n)]
        self.bar_image.setImage(colors[:, None, :], levels=(0, 255))
        self.bar_image.setRect(QRectF(0, lo, 1, hi - lo))
        self.bar.setYRange(lo, hi, padding=0)
        self.bar_zero.setVisible(bool(lo < 0 < hi))
        self.bar_marker.setVisible(False)
        self._show_bar(True)
        self._set_readout(None)

    def _set_readout(self, hovered: tuple[int, int, float] | None) -> None:
        if hovered is None:
            lo, hi = self._bar_range
            kind = "signed: 0 is the middle colour" if self.signed_shown else "unsigned"
            scope = "shared scale" if self.shared_range is not None else "values"
            big = max(abs(lo), abs(hi))
            text = f"{scope} {format_value(lo, big)} … {format_value(hi, big)}, {kind}"
        else:
            x, y, value = hovered
            text = f"value at x {x}, y {y}: <b>{format_value(value)}</b>"
        self.readout.setText(text)

    # --- the map -----------------------------------------------------------------------------

    def set_image(self, rgb: np.ndarray) -> None:
        if self.image is not None and self.image.shape != rgb.shape:
            self.hide_patch()
        self.image = rgb
        self.image_item.setImage(rgb, levels=(0, 255))
        self.clear_map()
        self.view.autoRange(padding=0.02)

    def clear_map(self, message: str | None = None) -> None:
        """Remove the map (and boxes/points); optionally show ``message`` centred over the image,
        e.g. "not computed — Run (≈ 3 s)", instead of a stale map."""
        self.attr_map = None
        self.levels = self.shown_cmap = self.hovered = None
        self.signed_shown = False
        self.overlay_item.clear()
        self.clear_shapes()
        self._show_bar(False)
        self._set_message(message)

    def set_map(self, attr_map: np.ndarray, signed: bool | None = None) -> None:
        """Show a raw map. ``signed`` forces diverging (True) or sequential (False) colouring;
        None decides from the data (clearly negative and clearly positive values)."""
        self.attr_map = np.asarray(attr_map)
        self.signed = signed
        self._set_message(None)
        self._render_overlay()

    def set_shared_range(self, lo: float | None, hi: float | None = None) -> None:
        """Draw with one fixed value range (a Compare grid on one scale); ``None`` goes back to
        each map's own range. Signed maps use ±max(|lo|, |hi|) so zero stays the middle colour."""
        self.shared_range = None if lo is None or hi is None else (float(lo), float(hi))
        self._render_overlay()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(opacity)
        self.overlay_item.setOpacity(self.opacity)

    def set_cmap(self, cmap: str) -> None:
        """Colormap for unsigned maps (signed maps use a diverging one unless ``cmap`` is one)."""
        render.lut(cmap)  # unknown names raise ValueError here
        self.cmap = cmap
        self._render_overlay()

    def _render_overlay(self) -> None:
        if self.attr_map is None:
            return
        lo, hi, signed = render.display_range(self.attr_map, signed=self.signed, shared=self.shared_range)
        self.signed_shown = signed
        self.levels = (lo, hi)
        self.shown_cmap = render.resolve_cmap(self.cmap, signed)
        self.overlay_item.setImage(render.rgba(self.attr_map, self.cmap, signed, self.shared_range), levels=(0, 255))
        self.overlay_item.setOpacity(self.opacity)
        self._update_colorbar()

    def overlay_rgba(self) -> np.ndarray | None:
        """The overlay as currently shown (for tests and export)."""
        return self.overlay_item.image

    def value_at(self, x: int, y: int) -> float | None:
        """The raw map value at column ``x``, row ``y``; None outside the map or without one."""
        if self.attr_map is None or not (0 <= y < self.attr_map.shape[0] and 0 <= x < self.attr_map.shape[1]):
            return None
        return float(self.attr_map[y, x])

    def _mouse_moved(self, scene_pos) -> None:
        if self.attr_map is None:
            return
        inside = self.view.sceneBoundingRect().contains(scene_pos)
        p = self.view.mapSceneToView(QPointF(scene_pos))
        x, y = int(math.floor(p.x())), int(math.floor(p.y()))
        value = self.value_at(x, y) if inside else None
        if value is None:
            if self.hovered is not None:
                self.hovered = None
                self.bar_marker.setVisible(False)
                self._set_readout(None)
            return
        self.hovered = (x, y, value)
        self.bar_marker.setValue(value)
        self.bar_marker.setVisible(True)
        self._set_readout(self.hovered)
        self.value_hovered.emit(x, y, value)

    # --- message over the image --------------------------------------------------------------

    def _set_message(self, message: str | None) -> None:
        self.message = message or None
        if self._message_item is not None:
            self.view.removeItem(self._message_item)
            self._message_item = None
        if not self.message:
            return
        item = pg.TextItem(self.message, color="#e8eaed", anchor=(0.5, 0.5), fill=pg.mkBrush(32, 33, 36, 215),
                           border=pg.mkPen("#5f6368"))
        font = item.textItem.font()
        font.setPointSize(11)
        item.setFont(font)
        if self.image is not None:
            h, w = self.image.shape[:2]
            item.setPos(w / 2, h / 2)
        else:  # no image yet: the middle of what is visible
            item.setPos(self.view.viewRect().center())
        item.setZValue(40)
        self.view.addItem(item)
        self._message_item = item

    # --- occlusion patch ---------------------------------------------------------------------

    def show_patch(self, size: int) -> None:
        """Show (or resize) the draggable patch, centred on the image the first time."""
        if self.image is None:
            return
        if self.patch is None:
            h, w = self.image.shape[:2]
            self.patch = pg.RectROI([w / 2 - size / 2, h / 2 - size / 2], [size, size], pen=pg.mkPen("#ffeb3b", width=2),
                                    movable=True, resizable=False, rotatable=False, removable=False)
            for handle in list(self.patch.getHandles()):
                self.patch.removeHandle(handle)
            self.patch.setZValue(30)
            self.patch.sigRegionChanged.connect(lambda roi: self.patch_moved.emit(self.patch_box()))
            self.patch.sigRegionChangeFinished.connect(lambda roi: self.patch_released.emit(self.patch_box()))
            self.view.addItem(self.patch)
        else:
            self.patch.setSize([size, size])

    def hide_patch(self) -> None:
        if self.patch is not None:
            self.view.removeItem(self.patch)
            self.patch = None

    def patch_box(self) -> tuple[int, int, int, int]:
        x, y = self.patch.pos()
        w, h = self.patch.size()
        return int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h))

    # --- boxes and points --------------------------------------------------------------------

    def clear_shapes(self) -> None:
        for item in self._shapes:
            self.view.removeItem(item)
        self._shapes = []

    def add_box(self, box, color: str = "#00e676", label: str = "") -> None:
        """Draw an (x0, y0, x1, y1) box in image pixels."""
        x0, y0, x1, y1 = box
        pen = pg.mkPen(color, width=2)
        rect = pg.QtWidgets.QGraphicsRectItem(x0, y0, x1 - x0, y1 - y0)
        rect.setPen(pen)
        rect.setZValue(20)
        self.view.addItem(rect)
        self._shapes.append(rect)
        if label:
            text = pg.TextItem(label, color=color, anchor=(0, 1))
            text.setPos(x0, y0)
            text.setZValue(21)
            self.view.addItem(text)
            self._shapes.append(text)

    def add_point(self, x: float, y: float, color: str = "#ffeb3b") -> None:
        dot = pg.ScatterPlotItem([x], [y], size=12, pen=pg.mkPen("k"), brush=pg.mkBrush(color), symbol="+")
        dot.setZValue(22)
        self.view.addItem(dot)
        self._shapes.append(dot)
