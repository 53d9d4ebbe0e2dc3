"""Class-specific units (Zhou et al. 2016, CAM §5): for one class, the channels of the layer that
raise its score most on this image — final-layer weight × mean activation where the model has a
GAP + linear head reading the layer, else the gradient equivalent (Grad-CAM's channel weight ×
mean activation, Selvaraju et al. 2017), and the list says which. A view only."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSpinBox, QVBoxLayout,
                               QWidget)

from core import render

from .units_grid import to_pixmap

CAM_TEXT = ("Ranked by <b>final-layer weight × mean activation</b> (CAM, Zhou et al. 2016 §5): each number is "
            "the unit's share of the class score; higher raises the class more.")
GRADIENT_TEXT = ("Ranked by <b>gradient weight × mean activation</b> (Grad-CAM channel weights, Selvaraju et al. "
                 "2017): this layer does not feed a GAP + linear head, so the CAM weights do not exist here; "
                 "higher raises the class more.")
ICON = 40
FOLLOW = -1  # the class combo's first entry: the class explained in the Explain workspace


class ClassUnits(QWidget):
    unit_clicked = Signal(int)  # channel
    class_changed = Signal()
    count_changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.classes = QComboBox()
        self.classes.setObjectName("units_class")
        self.classes.setToolTip("The class whose units are listed: the selected class (the prediction unless "
                                "you picked another in Explain), or any class of the model.")
        self.count = QSpinBox()
        self.count.setObjectName("units_class_count")
        self.count.setRange(1, 64)
        self.count.setValue(8)
        self.count.setToolTip("How many units to list, best first.")
        self.ranking = QLabel("")
        self.ranking.setObjectName("units_ranking")
        self.ranking.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("units_class_list")
        self.list.setIconSize(QSize(ICON, ICON))
        self.list.setToolTip("Click a unit to look at it (its tile is selected in the grid).")
        self.units: list[dict] = []
        row = QHBoxLayout()
        row.addWidget(QLabel("Units the class relies on:"))
        row.addWidget(self.classes, 1)
        row.addWidget(QLabel("top"))
        row.addWidget(self.count)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.ranking)
        layout.addWidget(self.list, 1)
        self.classes.currentIndexChanged.connect(lambda _i: self.class_changed.emit())
        self.count.valueChanged.connect(self.count_changed)
        self.list.itemClicked.connect(lambda item: self.unit_clicked.emit(int(item.data(Qt.UserRole))))

    def set_classes(self, labels: list[str]) -> None:
        self.classes.blockSignals(True)
        self.classes.clear()
        self.classes.addItem("the selected class", FOLLOW)
        for i, label in enumerate(labels):
            self.classes.addItem(f"{i}: {label}", i)
        self.classes.blockSignals(False)

    def chosen(self) -> int | None:
        """The class picked here, or None to follow the session's class."""
        value = self.classes.currentData()
        return None if value in (None, FOLLOW) else int(value)

    def show_units(self, units: list[dict] | None, message: str = "") -> None:
        """The ranked units (``core.units.class_units`` dicts), or ``message`` instead."""
        self.units = list(units or [])
        self.list.clear()
        if not self.units:
            self.ranking.setText(message)
            return
        self.ranking.setText(_ranking_text(self.units[0]["ranking"]) + (f" {message}" if message else ""))
        for rank, u in enumerate(self.units, 1):
            item = QListWidgetItem(f"{rank}. channel {u['channel']}: {u['contribution']:.3g} = weight "
                                   f"{u['weight']:.3g} × mean activation {u['mean_activation']:.3g}")
            item.setData(Qt.UserRole, u["channel"])
            item.setIcon(QIcon(to_pixmap(render.colorize(u["map"], signed=False), ICON)))
            item.setToolTip("Its activation map on this image; click to look at the unit.")
            self.list.addItem(item)


def _ranking_text(ranking: str) -> str:
    """What ``core.units.class_units`` ranked by, in words."""
    from core.units import CAM_RANKING

    return CAM_TEXT if ranking == CAM_RANKING else GRADIENT_TEXT
