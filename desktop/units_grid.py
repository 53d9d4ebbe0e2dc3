"""The channel grid: one tile per channel of a layer, each tile the channel's activation map for
the current image (Yosinski et al. 2015's "live activations"). Virtualised: a ``QListView`` over
a ``QAbstractListModel`` whose tiles are rendered only when the view paints them, and kept in a
small cache, so a layer of 2,048 channels scrolls as smoothly as one of 32."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QAbstractListModel, QItemSelectionModel, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from core import render

from .qt_compat import immortalize_singletons

TILE = 64  # pixels of a tile's map
CAPTION = 16
PAD = 6
PIXMAP_CACHE = 512  # rendered tiles kept (a screenful is far fewer)
ORDERS = {"channel": "channel number", "mean": "highest mean first", "max": "highest max first"}


def to_pixmap(rgb: np.ndarray, size: int | None = None) -> QPixmap:
    """H×W×3 uint8 → QPixmap, optionally scaled (nearest: each layer cell stays a sharp square)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
    if size is not None:
        image = image.scaled(size, size, Qt.KeepAspectRatio, Qt.FastTransformation)
    return QPixmap.fromImage(image)


class ChannelModel(QAbstractListModel):
    """Rows are channels in the chosen order; ``tile(row)`` renders a channel's map on demand.
    ``renders`` counts the tiles actually rendered (the grid renders only what is visible)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.maps: np.ndarray | None = None
        self.means = self.maxes = None
        self.order = np.zeros(0, int)
        self.shared = True  # one colour scale for the whole layer
        self.cmap = render.DEFAULT_CMAP
        self.renders = 0
        self._range: tuple[float, float] | None = None
        self._signed = False
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()

    def set_maps(self, maps: np.ndarray | None, order: np.ndarray | None = None) -> None:
        """Show ``maps`` (C×h×w) with rows in ``order`` (channel indices); None: empty grid."""
        self.beginResetModel()
        self.maps = maps
        self._cache.clear()
        if maps is None:
            self.means = self.maxes = None
            self.order = np.zeros(0, int)
        else:
            flat = maps.reshape(len(maps), -1)
            self.means, self.maxes = flat.mean(1), flat.max(1)
            self.order = np.arange(len(maps)) if order is None else np.asarray(order)
            self._range = render.value_range(maps)
            self._signed = render.is_signed(maps)
        self.endResetModel()

    def set_order(self, order: np.ndarray) -> None:
        if self.maps is not None:
            self.beginResetModel()
            self.order = np.asarray(order)
            self.endResetModel()

    def set_shared(self, shared: bool) -> None:
        self.shared = bool(shared)
        self._cache.clear()
        if self.rowCount():
            self.dataChanged.emit(self.index(0), self.index(self.rowCount() - 1))

    def channel(self, row: int) -> int:
        return int(self.order[row])

    def row_of(self, channel: int) -> int | None:
        hits = np.nonzero(self.order == channel)[0]
        return int(hits[0]) if len(hits) else None

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.order)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or self.maps is None:
            return None
        c = self.channel(index.row())
        if role == Qt.DisplayRole:
            return f"{c}"
        if role == Qt.ToolTipRole:
            return (f"channel {c}: mean activation {self.means[c]:.3g}, max {self.maxes[c]:.3g} "
                    "(higher: the unit fires more on this image). Click to look at it.")
        if role == Qt.UserRole:
            return c
        return None

    def tile(self, row: int) -> QPixmap:
        """The tile of ``row``, rendered now if it is not cached."""
        c = self.channel(row)
        pixmap = self._cache.get(c)
        if pixmap is None:
            self.renders += 1
            shared = self._range if self.shared else None
            rgb = render.colorize(self.maps[c], self.cmap, signed=self._signed if self.shared else None, shared=shared)
            pixmap = to_pixmap(rgb, TILE)
            self._cache[c] = pixmap
            while len(self._cache) > PIXMAP_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(c)
        return pixmap


class TileDelegate(QStyledItemDelegate):
    """Paints a tile and its channel number; asks the model for the tile only when painting."""

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt API
        return QSize(TILE + PAD, TILE + CAPTION + PAD)

    def paint(self, painter, option, index) -> None:
        model = index.model()
        rect = option.rect
        pixmap = model.tile(index.row())
        x = rect.x() + (rect.width() - pixmap.width()) // 2
        painter.drawPixmap(x, rect.y() + PAD // 2, pixmap)
        text_rect = QRect(rect.x(), rect.y() + PAD // 2 + TILE, rect.width(), CAPTION)
        painter.setPen(option.palette.text().color())
        painter.drawText(text_rect, Qt.AlignCenter, index.data(Qt.DisplayRole))
        if option.state & QStyle.State_Selected:
            painter.setPen(QPen(QColor("#1a73e8"), 3))
            painter.drawRect(rect.adjusted(1, 1, -2, -2))


class ChannelGrid(QListView):
    """The virtualised grid; ``channel_clicked(channel)`` when the user picks a tile."""

    channel_clicked = Signal(int)

    def __init__(self, parent=None):
        immortalize_singletons()  # paint makes many void Qt calls: see desktop.qt_compat
        super().__init__(parent)
        self.channels = ChannelModel(self)
        self.setModel(self.channels)
        self.setItemDelegate(TileDelegate(self))
        self.setViewMode(QListView.IconMode)
        self.setUniformItemSizes(True)
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.setMouseTracking(True)
        self.clicked.connect(lambda index: self.channel_clicked.emit(self.channels.channel(index.row())))

    def select_channel(self, channel: int | None) -> None:
        """Mark ``channel``'s tile as selected and scroll to it (no signal)."""
        row = None if channel is None else self.channels.row_of(channel)
        if row is None:
            self.clearSelection()
            return
        index = self.channels.index(row)
        self.selectionModel().setCurrentIndex(index, QItemSelectionModel.ClearAndSelect)
        self.scrollTo(index)
