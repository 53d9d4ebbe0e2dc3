"""Metrics beside the map, built from the metric registry: which metrics to compute (each named in
words with which way is better, its cost, and a tooltip saying what it measures and its paper),
the curves (a selector of which one to view, each plotted on axes named by its metric: deletion /
insertion, AOPC, ROAD, stability against perturbation strength, the sanity cascade) and a table
whose every row says what the number is and which way is better. Plain results in, no torch."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from . import metrics_adapters
from .metric_settings import MetricSettingsDialog
from .widgets import checked_names, set_checked_names

PLOT_MIN_HEIGHT = 150
TABLE_MIN_HEIGHT = 120
COLORS = ("#d32f2f", "#1976d2", "#388e3c", "#f57c00", "#7b1fa2", "#00838f")
MAX_DEFAULT_PASSES = 400  # metrics costing more per image start unticked
SETTINGS_TIP = "the metrics' parameters (thresholds, steps, samples…), each with the paper that chose its default"
NEEDS_TEXT = {"box": "a ground-truth box", "mask_or_box": "a ground-truth mask or box",
              "label": "the image's true class", "map_fn": "the method's map recomputed several times"}


def arrows(spec) -> str:
    """"↓" or "↓ ↑": which way each of the metric's numbers is better (one arrow when they agree)."""
    return " ".join(dict.fromkeys(out.arrow for out in spec.outputs))


def explain_metric(spec, passes: int | None = None) -> str:
    """The tooltip of a metric: what it measures, its numbers and their direction, cost, paper."""
    lines = [spec.sentence] + [f"{out.arrow} {out.describe()}" for out in spec.outputs]
    if spec.needs:
        lines.append("Needs " + ", ".join(NEEDS_TEXT.get(n, n) for n in sorted(spec.needs)) + ".")
    if passes is not None:
        extra = " + the method's own passes for each recomputed map" if spec.recomputes else ""
        lines.append(f"{passes} network passes per image{extra}.")
    lines.append(spec.citation)
    return "\n".join(lines)


def plot_views(plot: pg.PlotWidget, views: list, colors=COLORS, tick_names: bool = True) -> str:
    """Draw ``views`` (``CurveView``s sharing axes) on ``plot``: axis names from the first view,
    the rule line dashed, tick names on the x axis (``tick_names``; else numbers, the names in the
    tooltip) and the views' notes as the plot's tooltip. Returns the key (rich text naming each
    series by colour, and the rule) for a label beside the plot: a legend would hide the curves
    of a small plot."""
    plot.clear()
    if not views:
        return ""
    first = views[0]
    for side in ("bottom", "left"):
        plot.getAxis(side).enableAutoSIPrefix(False)
    plot.setLabel("bottom", first.x_label)
    plot.setLabel("left", first.y_label)
    names = []
    i = 0
    for view in views:
        for name, x, y in view.series:
            color = colors[i % len(colors)]
            plot.plot(x, y, pen=pg.mkPen(color, width=2), symbol="o" if len(x) <= 12 else None, symbolSize=5,
                      symbolBrush=color, name=name)
            names.append(f"<span style='color:{color}'>━ {html.escape(name)}</span>")
            i += 1
    if first.rule is not None:
        y, meaning = first.rule
        plot.addItem(pg.InfiniteLine(pos=y, angle=0, pen=pg.mkPen("#555", width=1, style=Qt.DashLine)))
        names.append(f"<span style='color:#555'>╌ {html.escape(meaning)}</span>")

    ticks = first.x_ticks if tick_names else [(x, f"{x:g}") for x, _name in first.x_ticks]
    plot.getAxis("bottom").setTicks([ticks] if ticks else None)
    plot.enableAutoRange()
    if ticks:
        plot.setXRange(min(x for x, _ in ticks) - 0.5, max(x for x, _ in ticks) + 0.5, padding=0)
    if first.y_range is not None:
        plot.setYRange(*first.y_range, padding=0.02)
    plot.setToolTip("\n\n".join(f"{v.title}: {v.note}" if v.note else v.title for v in views)
                    + ("\nTicks: " + ", ".join(f"{x:g} = {name}" for x, name in first.x_ticks)
                       if first.x_ticks and not tick_names else ""))
    return "&nbsp;&nbsp; ".join(names)


class MetricsPanel(QWidget):
    compute_requested = Signal(list)  # metric names
    settings_changed = Signal()  # the metric settings were edited

    def __init__(self, parent=None):
        super().__init__(parent)
        self.specs: dict = {}
        self.choice = QListWidget()
        self.choice.setObjectName("metric_choice")
        self.choice.setMinimumWidth(150)
        self.choice.setMinimumHeight(60)
        self.choice.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.choice.setTextElideMode(Qt.ElideRight)
        self.curve_choice = QComboBox()
        self.curve_choice.setObjectName("curve_choice")
        self.curve_choice.setToolTip("which metric's curve to show; each has its own axes")
        self.curve_choice.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.curve_choice.setMinimumContentsLength(12)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("metrics_plot")
        self.plot.setBackground("w")
        self.plot.setMinimumHeight(PLOT_MIN_HEIGHT)
        self.plot.setMinimumWidth(200)
        self.plot.setLabel("bottom", "(compute metrics to see their curves)")
        self.curve_key = QLabel("")
        self.curve_key.setObjectName("curve_key")
        self.curve_key.setWordWrap(True)
        self.curve_key.setStyleSheet("font-size: 8pt;")
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
        self.compute.setToolTip("score the map on the canvas by every ticked metric (runs in the background)")
        self.state = QLabel("")
        self.state.setObjectName("metrics_state")
        self.state.setWordWrap(True)
        self.state.setStyleSheet("color: #888;")
        copy = QPushButton("Copy")
        copy.setToolTip("copy the table as tab-separated text")
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setObjectName("metric_settings_button")
        self.settings_button.setToolTip(SETTINGS_TIP)
        self.settings: MetricSettingsDialog | None = None
        self.metric_params: dict[str, dict] = {}  # {metric: {param: value}} that differ from the defaults
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(QLabel("Metrics to compute"))
        column.addWidget(self.choice, 1)
        column.addWidget(self.compute)
        row = QHBoxLayout()
        row.addWidget(self.settings_button)
        row.addWidget(copy)
        column.addLayout(row)
        middle = QWidget()
        plot_column = QVBoxLayout(middle)
        plot_column.setContentsMargins(0, 0, 0, 0)
        picker = QHBoxLayout()
        picker.addWidget(QLabel("Curve"))
        picker.addWidget(self.curve_choice, 1)
        plot_column.addLayout(picker)
        plot_column.addWidget(self.curve_key)
        plot_column.addWidget(self.plot, 1)
        self.splitter = QSplitter(Qt.Horizontal)  # side by side: a short window keeps every part readable
        self.splitter.setObjectName("metrics_splitter")
        self.splitter.setChildrenCollapsible(False)
        for part in (left, middle, self.table):
            self.splitter.addWidget(part)
        self.splitter.setSizes([170, 330, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.state)
        layout.addWidget(self.splitter, 1)
        self.compute.clicked.connect(lambda: self.compute_requested.emit(self.chosen()))
        self.curve_choice.currentIndexChanged.connect(lambda _i: self._draw_curve())
        copy.clicked.connect(self.copy)
        self.settings_button.clicked.connect(self.open_settings)
        self.values: dict[str, float] = {}
        self.curves: dict[str, list] = {}  # selector entry → CurveViews sharing its axes

    def set_metrics(self, specs: dict, input_hw=(224, 224)) -> None:
        """The registry's metrics as a checklist (label and direction; what it measures, its
        cost and paper as tooltip)."""
        chosen = set(self.chosen()) if self.specs else None
        self.specs = specs
        self.choice.clear()
        for name, spec in specs.items():
            passes = int(spec.cost(tuple(input_hw), spec.resolve({})))
            item = QListWidgetItem(f"{spec.label}  {arrows(spec)}")
            item.setData(Qt.UserRole, name)
            item.setToolTip(explain_metric(spec, passes))
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            default = "map_fn" not in spec.needs and passes <= MAX_DEFAULT_PASSES
            item.setCheckState(Qt.Checked if (name in chosen if chosen is not None else default) else Qt.Unchecked)
            self.choice.addItem(item)

    def chosen(self) -> list[str]:
        return checked_names(self.choice)

    def set_chosen(self, names) -> None:
        """Tick exactly the metrics in ``names``."""
        set_checked_names(self.choice, names)

    def open_settings(self) -> MetricSettingsDialog:
        """The settings dialog (not blocking); OK keeps its values for the next Compute."""
        self.settings = MetricSettingsDialog(self.specs, self.metric_params, self)
        self.settings.accepted.connect(lambda: self.set_metric_params(self.settings.values()))
        self.settings.open()
        return self.settings

    def set_metric_params(self, values: dict[str, dict]) -> None:
        """{metric: {param: value}} used by the next Compute (checked against the schema)."""
        self.metric_params = {name: {**self.specs[name].resolve(params)} for name, params in values.items()}
        changed = ", ".join(self.specs[n].label for n in self.metric_params)
        self.settings_button.setText("Settings…*" if changed else "Settings…")
        self.settings_button.setToolTip(f"{SETTINGS_TIP}\nchanged: {changed}" if changed else SETTINGS_TIP)
        self.settings_changed.emit()

    def set_state(self, text: str) -> None:
        """A line above the results: "not computed — Compute (≈ 4 s)", "computing…", …"""
        self.state.setText(text)
        self.state.setVisible(bool(text))

    def clear(self, text: str = "") -> None:
        self.curve_key.setText(plot_views(self.plot, []))
        self.table.setRowCount(0)
        self.values = {}
        self.curves = {}
        self.curve_choice.blockSignals(True)
        self.curve_choice.clear()
        self.curve_choice.blockSignals(False)
        self.curve_choice.setEnabled(False)
        self.set_state(text)

    def show_results(self, results: dict, asked: list[str] | None = None) -> None:
        """``results``: metric name → MetricResult of a registered metric; ``asked``: the names
        that were requested (those without a result get a row saying what they needed)."""
        previous = self.curve_choice.currentText()
        self.clear()
        rows = []
        by_axes: dict[tuple, list] = {}
        for name, res in results.items():
            spec = self.specs.get(name)
            if spec is None:
                continue
            view = metrics_adapters.curve_view(spec, res)
            if view is not None:
                by_axes.setdefault(view.axes, []).append(view)
            values = spec.values(res)
            for output in spec.outputs:
                if output.name in values:
                    rows.append((output, values[output.name], spec))
        for group in by_axes.values():
            self.curves[" / ".join(v.title for v in group)] = group
        self._fill_table(rows, [n for n in (asked or []) if n not in results and n in self.specs])
        self.curve_choice.blockSignals(True)
        self.curve_choice.addItems(list(self.curves))
        if previous in self.curves:
            self.curve_choice.setCurrentText(previous)
        self.curve_choice.blockSignals(False)
        self.curve_choice.setEnabled(bool(self.curves))
        self._draw_curve()

    def _fill_table(self, rows, skipped: list[str]) -> None:
        self.table.setRowCount(len(rows) + len(skipped))
        for row, (output, value, spec) in enumerate(rows):
            self.values[output.name] = value
            cells = (output.label, f"{value:.4g}", f"{output.arrow} {output.direction}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{output.describe()}\n{explain_metric(spec)}")
                self.table.setItem(row, col, item)
        for row, name in enumerate(skipped, len(rows)):
            spec = self.specs[name]
            needs = ", ".join(NEEDS_TEXT.get(n, n) for n in sorted(spec.needs)) or "what this image lacks"
            cells = (spec.label, "—", f"needs {needs}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setForeground(Qt.gray)
                item.setToolTip(f"not scored: this image has no {needs} (a ground_truth.json beside it gives one)"
                                f"\n{explain_metric(spec)}")
                self.table.setItem(row, col, item)

    def curve_names(self) -> list[str]:
        """The selector's entries: metrics (or metrics sharing axes) whose curve can be shown."""
        return list(self.curves)

    def show_curve(self, name: str) -> None:
        self.curve_choice.setCurrentText(name)

    def _draw_curve(self) -> None:
        self.curve_key.setText(plot_views(self.plot, self.curves.get(self.curve_choice.currentText(), []),
                                          tick_names=False))

    def copy(self) -> None:
        QGuiApplication.clipboard().setText("\n".join(f"{k}\t{v:.6g}" for k, v in self.values.items()))
