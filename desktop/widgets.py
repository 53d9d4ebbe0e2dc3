"""Small layout helpers shared by panels and workspaces."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget


def titled(title: QLabel, widget: QWidget, margin: int = 0) -> QWidget:
    """``widget`` under its ``title`` label, the widget taking the spare height."""
    box = QFrame()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(margin, margin, margin, margin)
    layout.addWidget(title)
    layout.addWidget(widget, 1)
    return box
