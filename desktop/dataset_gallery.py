"""A virtualised thumbnail gallery for a dataset run (model/view: QListView + QAbstractListModel).

Only what is painted is rendered: the delegate asks the model for a row's thumbnail when it
paints that row, and the view paints only the rows on screen. A missing thumbnail is queued and
drawn as a placeholder; a zero-delay timer renders the queue on the GUI thread, newest request
first, within a small time budget per turn of the event loop (so scrolling stays smooth), and
drops requests that fell far behind (rows that scrolled away are asked for again if they come
back). Rendered thumbnails sit in an LRU cache keyed by image and overlay. ``renders`` counts the
render calls (the tests check that 10,000 rows render only the visible ones)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPen, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate

SIDE = 96  # thumbnail side, pixels
CAPTION = 30  # caption height under a thumbnail
CACHE = 1500  # thumbnails kept
QUEUE = 400  # pending requests kept (oldest dropped)
BUDGET_S = 0.012  # rendering per turn of the event loop
GOOD, BAD, NEUTRAL = QColor("#2e7d32"), QColor("#c62828"), QColor("#9e9e9e")
ROW_ROLE = Qt.UserRole + 1

Render = Callable[[dict, bool], np.ndarray]  # (row, with the map?) → H×W×3 uint8


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w = rgb.shape[:2]
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy())


def outcome(row: dict) -> str | None:
    """"correct" / "wrong" for a labelled row, None when the true class is unknown."""
    if row.get("label_index", "") == "":
        return None
    return "correct" if row["label_index"] == row["predicted_index"] else "wrong"


def caption(row: dict) -> str:
    """"✓ star" / "✗ circle → square" (true → predicted) / "predicted star" (unlabelled)."""
    state = outcome(row)
    if state is None:
        return f"predicted {row['predicted']}"
    return f"✓ {row['label']}" if state == "correct" else f"✗ {row['label']} → {row['predicted']}"


class GalleryModel(QAbstractListModel):
    """Rows of a run (dicts from ``core.workbench.analysis.read_table``) with lazy thumbnails."""

    def __init__(self, render: Render | None = None, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []
        self.render = render
        self.overlay = False
        self.renders = 0
        self._cache: OrderedDict[tuple, QPixmap] = OrderedDict()
        self._pending: OrderedDict[tuple, int] = OrderedDict()  # key → row, newest last
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._render_some)

    # ----- content -----
    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self._pending.clear()
        self.endResetModel()

    def set_render(self, render: Render | None) -> None:
        """A new renderer (another store or method): every thumbnail is drawn again."""
        self.render = render
        self._cache.clear()
        self._pending.clear()
        self._changed()

    def set_overlay(self, on: bool) -> None:
        if on != self.overlay:
            self.overlay = on
            self._pending.clear()
            self._changed()

    def _changed(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1), [Qt.DecorationRole])

    # ----- Qt model -----
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.DisplayRole:
            return caption(row)
        if role == Qt.ToolTipRole:
            return (f"{row['file']}\ntrue: {row['label'] or 'unknown'}; predicted: {row['predicted']} "
                    f"({row['confidence']:.1%})\nDouble-click: open it in Explain")
        if role == ROW_ROLE:
            return row
        return None

    # ----- thumbnails -----
    def pixmap(self, i: int) -> QPixmap | None:
        """The thumbnail of row ``i`` if rendered; otherwise it is queued and None returned."""
        row = self.rows[i]
        key = (row["id"], self.overlay)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        if self.render is not None:
            self._pending.pop(key, None)
            self._pending[key] = i
            while len(self._pending) > QUEUE:
                self._pending.popitem(last=False)
            if not self._timer.isActive():
                self._timer.start()
        return None

    def _render_some(self) -> None:
        start = time.perf_counter()
        while self._pending and time.perf_counter() - start < BUDGET_S:
            key, i = self._pending.popitem(last=True)  # newest first: what is on screen now
            if key in self._cache or i >= len(self.rows) or self.rows[i]["id"] != key[0] or key[1] != self.overlay:
                continue
            self.renders += 1
            self._cache[key] = to_pixmap(self.render(self.rows[i], key[1]))
            while len(self._cache) > CACHE:
                self._cache.popitem(last=False)
            index = self.index(i)
            self.dataChanged.emit(index, index, [Qt.DecorationRole])
        if self._pending:
            self._timer.start()

    def idle(self) -> bool:
        return not self._pending


class ThumbnailDelegate(QStyledItemDelegate):
    """A thumbnail with a coloured frame (green: correct, red: wrong, grey: unlabelled) and its caption."""

    def sizeHint(self, option, index) -> QSize:  # fixed: the view never asks the model for a size
        return QSize(SIDE + 8, SIDE + CAPTION + 6)

    def paint(self, painter, option, index) -> None:
        model = index.model()
        row = model.rows[index.row()]
        r = option.rect
        if option.state & QStyle.State_Selected:
            painter.fillRect(r, option.palette.highlight())
        box = QRect(r.x() + 4, r.y() + 3, SIDE, SIDE)
        pix = model.pixmap(index.row())
        if pix is None:
            painter.fillRect(box, QColor("#e0e0e0"))
        else:
            painter.drawPixmap(box, pix)
        state = outcome(row)
        painter.setPen(QPen(NEUTRAL if state is None else GOOD if state == "correct" else BAD, 3))
        painter.drawRect(box.adjusted(1, 1, -1, -1))
        text = QRect(r.x() + 2, box.bottom() + 2, r.width() - 4, CAPTION)
        painter.setPen(option.palette.highlightedText().color() if option.state & QStyle.State_Selected
                       else option.palette.text().color())
        painter.drawText(text, Qt.AlignHCenter | Qt.AlignTop | Qt.TextWordWrap, caption(row))


class GalleryView(QListView):
    """Thumbnails in a wrapping grid; double-click (or Enter) emits the row."""

    image_activated = Signal(object)  # row dict

    def __init__(self, model: GalleryModel, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.IconMode)
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setUniformItemSizes(True)
        self.setSpacing(2)
        self.setSelectionMode(QListView.SingleSelection)
        self.setVerticalScrollMode(QListView.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.setModel(model)
        self.setToolTip("Each image as the model saw it; the frame is green when the prediction is right, red "
                        "when wrong (caption: true → predicted). Double-click an image to explain it.")
        self.doubleClicked.connect(self._activated)

    def _activated(self, index) -> None:
        if index.isValid():
            self.image_activated.emit(self.model().rows[index.row()])

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and self.currentIndex().isValid():
            self._activated(self.currentIndex())
            return
        super().keyPressEvent(event)

    def visible_rows(self) -> list[int]:
        """Rows whose cell intersects the viewport (what a person sees)."""
        model, area = self.model(), self.viewport().rect()
        return [i for i in range(model.rowCount()) if self.visualRect(model.index(i)).intersects(area)]
