"""Metrics: deletion / insertion curves (pyqtgraph) and a copyable table of values."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget


class MetricsPanel(QWidget):
    compute_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setLabel("bottom", "fraction of pixels")
        self.plot.setLabel("left", "class probability")
        self.plot.addLegend(offset=(-10, 10))
        self.plot.setYRange(0, 1)
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("metrics_table")
        self.table.setHorizontalHeaderLabels(["metric", "value"])
        self.table.horizontalHeader().setStretchLastSection(True)
        compute = QPushButton("Compute metrics")
        compute.setObjectName("compute_metrics")
        copy = QPushButton("Copy")
        buttons = QHBoxLayout()
        buttons.addWidget(compute)
        buttons.addWidget(copy)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot, 2)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        compute.clicked.connect(self.compute_requested.emit)
        copy.clicked.connect(self.copy)
        self.values: dict[str, float] = {}

    def show_results(self, results: dict) -> None:
        """``results``: metric name → MetricResult."""
        self.plot.clear()
        colors = {"deletion": "#d32f2f", "insertion": "#1976d2"}
        self.values = {}
        for name, res in results.items():
            if res.curve is not None and name in colors:
                self.plot.plot(res.curve[0], res.curve[1], pen=pg.mkPen(colors[name], width=2),
                               name=f"{name} AUC {res.value:.3f}")
            self.values[name] = res.value
            for key, value in res.details.items():
                if isinstance(value, float) and key != "threshold":
                    self.values[key] = value
        self.table.setRowCount(len(self.values))
        for row, (name, value) in enumerate(self.values.items()):
            self.table.setItem(row, 0, QTableWidgetItem(name))
            self.table.setItem(row, 1, QTableWidgetItem(f"{value:.4f}"))

    def copy(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(f"{k}\t{v:.6g}" for k, v in self.values.items()))
