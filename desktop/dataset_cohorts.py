"""Cohort chips: one checkable chip per cohort of a run (``core.workbench.analysis.cohorts``:
correct / incorrect, per class, per true → predicted pair, metric quartiles), wrapping like words
on a page under the kind's name; one chip (or "all images") is on at a time, and the chosen
cohort filters the gallery and the table together."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QLabel, QLayout, QPushButton, QScrollArea, QVBoxLayout, QWidget

KINDS = (("outcome", "Outcome"), ("class", "True class"), ("confusion", "Confused (true → predicted)"),
         ("quantile", "Metric quartiles (Q1: lowest values)"))
CHIP_STYLE = ("QPushButton { border: 1px solid #9e9e9e; border-radius: 9px; padding: 1px 8px; }"
              "QPushButton:checked { background: #1a73e8; color: white; border-color: #1a73e8; }")
MAX_HEIGHT = 110


class FlowLayout(QLayout):
    """Items left to right, wrapping to the next line (Qt's flow layout example)."""

    def __init__(self, parent=None, spacing: int = 4):
        super().__init__(parent)
        self.items = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item) -> None:
        self.items.append(item)

    def count(self) -> int:
        return len(self.items)

    def itemAt(self, i: int):
        return self.items[i] if 0 <= i < len(self.items) else None

    def takeAt(self, i: int):
        return self.items.pop(i) if 0 <= i < len(self.items) else None

    def expandingDirections(self):
        return Qt.Orientations(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self.items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _place(self, rect: QRect, move: bool) -> int:
        x, y, line = rect.x(), rect.y(), 0
        gap = self.spacing()
        for item in self.items:
            hint = item.sizeHint()
            if x + hint.width() > rect.right() and line > 0:
                x, y, line = rect.x(), y + line + gap, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + gap
            line = max(line, hint.height())
        return y + line - rect.y()


class CohortChips(QWidget):
    cohort_selected = Signal(object)  # Cohort or None (all images)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        self.cohorts: dict[str, object] = {}
        self.inner = QWidget()
        self.flow = FlowLayout(self.inner)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.inner)
        self.scroll.setFrameShape(QScrollArea.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setMaximumHeight(MAX_HEIGHT)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)
        self.set_cohorts([])

    def _chip(self, name: str, text: str, tip: str) -> QPushButton:
        chip = QPushButton(text)
        chip.setCheckable(True)
        chip.setObjectName(f"cohort:{name}")
        chip.setToolTip(tip)
        chip.setStyleSheet(CHIP_STYLE)
        self.group.addButton(chip)
        self.buttons[name] = chip
        chip.toggled.connect(lambda on, n=name: self.cohort_selected.emit(self.cohorts.get(n)) if on else None)
        return chip

    def set_cohorts(self, cohorts: list) -> None:
        """``core.workbench.analysis.Cohort``s; "all images" is selected afterwards."""
        while self.flow.count():
            item = self.flow.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for chip in list(self.buttons.values()):
            self.group.removeButton(chip)
        self.buttons, self.cohorts = {}, {c.name: c for c in cohorts}
        self.flow.addWidget(self._chip("all", "all images", "show every image of the run"))
        for kind, title in KINDS:
            members = [c for c in cohorts if c.kind == kind]
            if members:
                self.flow.addWidget(QLabel(f"  <b>{title}:</b>"))
            for c in members:
                shown = c.name[6:] if kind == "class" else c.name
                self.flow.addWidget(self._chip(c.name, f"{shown} ({len(c.ids)})",
                                               f"show only the {len(c.ids)} images of the cohort “{c.name}”"))
        self.buttons["all"].setChecked(True)
        height = self.flow.heightForWidth(max(200, self.scroll.viewport().width()))
        self.scroll.setFixedHeight(min(MAX_HEIGHT, height + 4))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        height = self.flow.heightForWidth(max(200, self.scroll.viewport().width()))
        self.scroll.setFixedHeight(min(MAX_HEIGHT, height + 4))

    def select(self, name: str) -> None:
        self.buttons[name].setChecked(True)
