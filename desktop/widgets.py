"""Small layout helpers shared by panels and workspaces."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QListWidget, QScrollArea, QVBoxLayout, QWidget


def titled(title: QLabel, widget: QWidget, margin: int = 0) -> QWidget:
    """``widget`` under its ``title`` label, the widget taking the spare height."""
    box = QFrame()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(margin, margin, margin, margin)
    layout.addWidget(title)
    layout.addWidget(widget, 1)
    return box


def checked_names(box: QListWidget) -> list[str]:
    """The ``UserRole`` names of the ticked items of a checkable list, in list order."""
    return [box.item(i).data(Qt.UserRole) for i in range(box.count()) if box.item(i).checkState() == Qt.Checked]


def set_checked_names(box: QListWidget, names) -> None:
    """Tick exactly the items whose ``UserRole`` name is in ``names``."""
    names = set(names)
    for i in range(box.count()):
        item = box.item(i)
        item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in names else Qt.Unchecked)


def settings_column(form: QWidget, buttons: list, *below: QWidget, min_width: int = 320) -> QWidget:
    """A scrolling settings ``form`` with its ``buttons`` (a row) and ``below`` (progress, state)
    under it, so the buttons and the progress stay in view however long the form is."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(form)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(min_width)
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    side = QWidget()
    column = QVBoxLayout(side)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(scroll, 1)
    column.addLayout(row)
    for widget in below:
        column.addWidget(widget)
    return side
