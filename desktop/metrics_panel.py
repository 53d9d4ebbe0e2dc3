"""Metrics beside the map: which metrics to compute (from the metric registry, with their cost),
the curves (deletion / insertion, …) and a table whose every row says what the number is and
which way is better. Plain results in, no torch."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QHeaderView, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

PLOT_MIN_HEIGHT = 150
TABLE_MIN_HEIGHT = 120
COLORS = ("#d32f2f", "#1976d2", "#388e3c", "#f57c00", "#7b1fa2", "#00838f")
MAX_DEFAULT_PASSES = 400  # metrics costing more per image start unticked


class MetricsPanel(QWidget):
    compute_requested = Signal(list)  # metric names

    def __init__(self, parent=None):
        super().__init__(parent)
        self.specs: dict = {}
        self.choice = QListWidget()
        self.choice.setObjectName("metric_choice")
        self.choice.setMinimumWidth(150)
        self.choice.setMinimumHeight(60)
        self.choice.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.choice.setTextElideMode(Qt.ElideRight)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("metrics_plot")
        self.plot.setBackground("w")
        self.plot.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.plot.setMinimumWidth(200)
        self.plot.setLabel("bottom", "fraction of the image removed / restored")
        self.plot.setXRange(0, 1)
        self.plot.setLabel("left", "class probability")
        self.legend = self.plot.addLegend(offset=(-5, 5), labelTextSize="8pt", brush=(255, 255, 255, 210))
        self.plot.setYRange(0, 1)
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("metrics_table")
        self.table.setMinimumSize(180, TABLE_MIN_HEIGHT)
        self.table.setHorizontalHeaderLabels(["metric", "value", "better"])
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.compute = QPushButton("Compute metrics")
        self.compute.setObjectName("compute_metrics")
        self.state = QLabel("")
        self.state.setObjectName("metrics_state")
        self.state.setWordWrap(True)
        self.state.setStyleSheet("color: #888;")
        copy = QPushButton("Copy")
        copy.setToolTip("copy the table as tab-separated text")
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("Metrics to compute"))
        column.addWidget(self.choice, 1)
        column.addWidget(self.compute)
        column.addWidget(copy)
        self.splitter = QSplitter(Qt.Horizontal)  # side by side: a short window keeps every part readable
        self.splitter.setObjectName("metrics_splitter")
        self.splitter.setChildrenCollapsible(False)
        for part in (left, self.plot, self.table):
            self.splitter.addWidget(part)
        self.splitter.setSizes([170, 330, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.state)
        layout.addWidget(self.splitter, 1)
        self.compute.clicked.connect(lambda: self.compute_requested.emit(self.chosen()))
        copy.clicked.connect(self.copy)
        self.values: dict[str, float] = {}

    def set_metrics(self, specs: dict, input_hw=(224, 224)) -> None:
        """The registry's metrics as a checklist (label, cost in passes; sentence as tooltip)."""
        chosen = set(self.chosen()) if self.specs else None
        self.specs = specs
        self.choice.clear()
        for name, spec in specs.items():
            passes = int(spec.cost(tuple(input_hw), spec.resolve({})))
            item = QListWidgetItem(spec.label)
            item.setData(Qt.UserRole, name)
            item.setToolTip(f"{spec.sentence}\n{passes} network passes per image. {spec.citation}")
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            default = "map_fn" not in spec.needs and passes <= MAX_DEFAULT_PASSES
            item.setCheckState(Qt.Checked if (name in chosen if chosen is not None else default) else Qt.Unchecked)
            self.choice.addItem(item)

    def chosen(self) -> list[str]:
        return [self.choice.item(i).data(Qt.UserRole) for i in range(self.choice.count())
                if self.choice.item(i).checkState() == Qt.Checked]

    def set_state(self, text: str) -> None:
        """A line above the results: "not computed — Compute (≈ 4 s)", "computing…", …"""
        self.state.setText(text)
        self.state.setVisible(bool(text))

    def clear(self, text: str = "") -> None:
        self.plot.clear()
        self.legend.clear()
        self.table.setRowCount(0)
        self.values = {}
        self.set_state(text)

    def show_results(self, results: dict) -> None:
        """``results``: metric name → MetricResult of a registered metric."""
        self.clear()
        rows = []
        for i, (name, res) in enumerate(results.items()):
            spec = self.specs.get(name)
            if spec is None:
                continue
            if res.curve is not None and _fraction_axis(res.curve[0]):  # one x axis: fractions of the image
                self.plot.plot(res.curve[0], res.curve[1], pen=pg.mkPen(COLORS[i % len(COLORS)], width=2),
                               name=f"{spec.outputs[0].label} {res.value:.3f}")
            for output in spec.outputs:
                value = spec.values(res).get(output.name)
                if value is not None:
                    rows.append((output, value, spec))
        self.table.setRowCount(len(rows))
        for row, (output, value, spec) in enumerate(rows):
            self.values[output.name] = value
            cells = (output.label, f"{value:.4g}", f"{output.arrow} {output.direction}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{output.describe()}\n{spec.sentence}")
                self.table.setItem(row, col, item)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(f"{k}\t{v:.6g}" for k, v in self.values.items()))



def _fraction_axis(x) -> bool:
    """Whether a curve's x values are fractions (0…1), as deletion/insertion curves are."""
    try:
        return len(x) > 0 and 0.0 <= float(min(x)) and float(max(x)) <= 1.0 + 1e-9
    except (TypeError, ValueError):
        return False
