"""The image canvas: the image exactly as the model sees it, a heatmap overlay, boxes and points."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal

from core.render import colorize, normalize

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


class ImageCanvas(pg.GraphicsLayoutWidget):
    """Image + overlay (opacity, colormap) with zoom and pan; boxes and points drawn on top;
    an optional draggable occlusion patch reporting its box while dragged and when released."""

    patch_moved = Signal(tuple)  # (x0, y0, x1, y1) in image pixels
    patch_released = Signal(tuple)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground("#202124")
        self.view = self.addViewBox(lockAspect=True, invertY=True)
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
        self.cmap = "jet"
        self.patch: pg.RectROI | None = None

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

    def set_image(self, rgb: np.ndarray) -> None:
        if self.image is not None and self.image.shape != rgb.shape:
            self.hide_patch()
        self.image = rgb
        self.image_item.setImage(rgb, levels=(0, 255))
        self.clear_map()
        self.view.autoRange(padding=0.02)

    def clear_map(self) -> None:
        self.attr_map = None
        self.overlay_item.clear()
        self.clear_shapes()

    def set_map(self, attr_map: np.ndarray) -> None:
        self.attr_map = attr_map
        self._render_overlay()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(opacity)
        self.overlay_item.setOpacity(self.opacity)

    def set_cmap(self, cmap: str) -> None:
        self.cmap = cmap
        self._render_overlay()

    def _render_overlay(self) -> None:
        if self.attr_map is None:
            return
        rgb = colorize(self.attr_map, self.cmap)
        alpha = (255 * np.clip(normalize(self.attr_map), 0.15, 1.0)).astype(np.uint8)[..., None]
        self.overlay_item.setImage(np.concatenate([rgb, alpha], axis=2), levels=(0, 255))
        self.overlay_item.setOpacity(self.opacity)

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

    def overlay_rgba(self) -> np.ndarray | None:
        """The overlay as currently shown (for tests and export)."""
        return self.overlay_item.image

