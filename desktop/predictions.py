"""Top-k predictions; clicking one re-targets the explanation; the explained class is marked."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem


class PredictionList(QListWidget):
    target_selected = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("predictions")
        self._shown: list | None = None
        self.itemClicked.connect(lambda item: self.target_selected.emit(item.data(Qt.UserRole)))

    def set_predictions(self, prediction: list[tuple[int, str, float]], target: int | None = None) -> None:
        """Show ``prediction`` (rebuilt only when it changed) and select the explained class."""
        if prediction != self._shown:
            self._shown = list(prediction)
            super().clear()
            for index, label, prob in prediction:
                item = QListWidgetItem(f"{prob:6.1%}  {label}  (#{index})")
                item.setData(Qt.UserRole, index)
                self.addItem(item)
        for row in range(self.count()):
            item = self.item(row)
            explained = item.data(Qt.UserRole) == target
            item.setSelected(explained)
            font = item.font()
            font.setBold(explained)
            item.setFont(font)
            if explained:
                self.setCurrentItem(item)

    def clear(self) -> None:
        self._shown = None
        super().clear()
