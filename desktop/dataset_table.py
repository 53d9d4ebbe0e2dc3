"""The per-image table of a dataset run (file, true class, prediction, confidence, then one column
per method and metric output).

Sorting is the workspace's (so gallery and table share one order): clicking a header emits
``sort_requested``. Every metric column's header carries its direction (↑ higher is better,
↓ lower is better) and its tooltip says it in words."""

from __future__ import annotations

import math

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QTableView

SHOWN = ("file", "label", "predicted", "confidence")
TITLES = {"file": "file", "label": "true class", "predicted": "predicted", "confidence": "confidence"}
TIPS = {"file": "the image as the data source names it", "label": "the true class (empty: unknown)",
        "predicted": "the model's top class (red: wrong)", "confidence": "the predicted class's probability"}
WRONG = QColor("#fde0dc")


def _number(value) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class RowsModel(QAbstractTableModel):
    """Rows from ``core.workbench.analysis.read_table`` as a Qt table (read-only)."""

    sort_requested = Signal(str, bool)  # column, descending

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []
        self.columns: list[str] = list(SHOWN)
        self.directions: dict[str, str] = {}

    def set_columns(self, value_columns: list[str], directions: dict[str, str]) -> None:
        self.beginResetModel()
        self.columns = list(SHOWN) + list(value_columns)
        self.directions = dict(directions)
        self.endResetModel()

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def title(self, column: str) -> str:
        if column in TITLES:
            return TITLES[column]
        arrow = {"higher": " ↑", "lower": " ↓"}.get(self.directions.get(column, ""), "")
        return column + arrow

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation != Qt.Horizontal or section >= len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.DisplayRole:
            return self.title(column)
        if role == Qt.ToolTipRole:
            if column in TIPS:
                return TIPS[column]
            method, _, output = column.partition(".")
            direction = self.directions.get(column)
            return (f"{output} of the {method} map" + (f": {direction} is better" if direction else "")
                    + ". Click to sort.")
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.DisplayRole:
            value = row.get(column)
            if column == "confidence":
                return f"{value:.1%}"
            return value if isinstance(value, str) else _number(value)
        if role == Qt.TextAlignmentRole and column not in ("file", "label", "predicted"):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.BackgroundRole and column == "predicted" and row.get("label_index", "") != "" \
                and row["label_index"] != row["predicted_index"]:
            return QBrush(WRONG)
        if role == Qt.ToolTipRole:
            return f"{row['file']} — double-click to open it in Explain"
        return None

    def sort(self, section: int, order=Qt.AscendingOrder) -> None:
        if 0 <= section < len(self.columns):
            self.sort_requested.emit(self.columns[section], order == Qt.DescendingOrder)


class RowsView(QTableView):
    image_activated = Signal(object)  # row dict

    def __init__(self, model: RowsModel, parent=None):
        super().__init__(parent)
        self.setModel(model)
        self.setObjectName("dataset_table")
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QTableView.SelectRows)
        self.setSelectionMode(QTableView.SingleSelection)
        self.setEditTriggers(QTableView.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setTextElideMode(Qt.ElideLeft)  # the file name, not the folder, stays readable
        self.verticalHeader().setDefaultSectionSize(22)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.horizontalHeader().setStretchLastSection(True)
        self.doubleClicked.connect(lambda index: self.image_activated.emit(model.rows[index.row()])
                                   if index.isValid() else None)

    def unsorted(self) -> None:
        """No sort indicator: rows in the order the run stored them."""
        self.horizontalHeader().setSortIndicator(-1, Qt.AscendingOrder)

    def fit_columns(self) -> None:
        self.resizeColumnsToContents()
        self.setColumnWidth(0, min(self.columnWidth(0), 260))
