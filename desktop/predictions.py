"""Top-k predictions; clicking one re-targets the explanation."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem


class PredictionList(QListWidget):
    target_selected = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("predictions")
        self.itemClicked.connect(lambda item: self.target_selected.emit(item.data(Qt.UserRole)))

    def set_predictions(self, prediction: list[tuple[int, str, float]], target: int | None = None) -> None:
        self.clear()
        for index, label, prob in prediction:
            item = QListWidgetItem(f"{prob:6.1%}  {label}  (#{index})")
            item.setData(Qt.UserRole, index)
            self.addItem(item)
            if index == target:
                self.setCurrentItem(item)
