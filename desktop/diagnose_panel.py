"""Diagnosis dock: drag-to-occlude controls with a probability trace, and adversarial noise."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from core.methods.perturbation import FILLS

from .canvas import ImageCanvas


class DiagnosePanel(QWidget):
    patch_toggled = Signal(bool)
    patch_size_changed = Signal(int)
    sweep_requested = Signal()
    attack_requested = Signal(dict)
    epsilon_sweep_requested = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        occl = QGroupBox("Drag to occlude")
        self.patch = QCheckBox("show the patch (drag it over the image)")
        self.patch.setObjectName("patch")
        self.size = QSpinBox()
        self.size.setRange(2, 512)
        self.size.setValue(24)
        self.fill = QComboBox()
        self.fill.addItems([f for f in FILLS if f != "zeros"])
        self.fill.setCurrentText("grey")
        self.readout = QLabel("—")
        self.readout.setObjectName("occlusion_readout")
        self.trace = pg.PlotWidget()
        self.trace.setBackground("w")
        self.trace.setLabel("left", "target p")
        self.trace.setLabel("bottom", "update")
        self.trace.setYRange(0, 1)
        self.trace.setMaximumHeight(120)
        self.trace_curve = self.trace.plot(pen=pg.mkPen("#6a1b9a", width=2))
        self.trace_values: list[float] = []
        sweep = QPushButton("Sweep the patch over the image (occlusion map)")
        form = QFormLayout()
        form.addRow(self.patch)
        form.addRow("size (px)", self.size)
        form.addRow("fill", self.fill)
        form.addRow("target probability", self.readout)
        box = QVBoxLayout(occl)
        box.addLayout(form)
        box.addWidget(self.trace)
        box.addWidget(sweep)

        adv = QGroupBox("Adversarial noise")
        self.attack_method = QComboBox()
        self.attack_method.addItems(["pgd", "fgsm"])
        self.norm = QComboBox()
        self.norm.addItems(["linf", "l2"])
        self.epsilon = QDoubleSpinBox()
        self.epsilon.setRange(0.0, 255.0)
        self.epsilon.setValue(4.0)
        self.epsilon.setSuffix(" /255")
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setValue(10)
        self.goal = QComboBox()
        self.goal.setObjectName("attack_goal")
        self.goal.addItem("untargeted", None)
        run = QPushButton("Attack")
        run.setObjectName("attack")
        sweep_eps = QPushButton("ε sweep")
        self.attack_summary = QLabel("")
        self.attack_summary.setWordWrap(True)
        self.attack_view = ImageCanvas()
        self.attack_view.setMinimumHeight(140)
        self.sweep_plot = pg.PlotWidget()
        self.sweep_plot.setBackground("w")
        self.sweep_plot.setLabel("bottom", "ε (/255)")
        self.sweep_plot.addLegend(offset=(-10, 10))
        self.sweep_plot.setMaximumHeight(140)
        form = QFormLayout()
        form.addRow("method", self.attack_method)
        form.addRow("norm", self.norm)
        form.addRow("ε", self.epsilon)
        form.addRow("steps", self.steps)
        form.addRow("goal", self.goal)
        buttons = QHBoxLayout()
        buttons.addWidget(run)
        buttons.addWidget(sweep_eps)
        box = QVBoxLayout(adv)
        box.addLayout(form)
        box.addLayout(buttons)
        box.addWidget(self.attack_summary)
        box.addWidget(self.attack_view, 1)
        box.addWidget(self.sweep_plot)

        layout = QVBoxLayout(self)
        layout.addWidget(occl)
        layout.addWidget(adv, 1)
        self.patch.toggled.connect(self.patch_toggled.emit)
        self.size.valueChanged.connect(self.patch_size_changed.emit)
        sweep.clicked.connect(self.sweep_requested.emit)
        run.clicked.connect(lambda: self.attack_requested.emit(self.attack_args()))
        sweep_eps.clicked.connect(lambda: self.epsilon_sweep_requested.emit(self.attack_args()))

    def set_classes(self, labels: list[str]) -> None:
        self.goal.clear()
        self.goal.addItem("untargeted", None)
        for i, name in enumerate(labels[:1000]):
            self.goal.addItem(f"→ {name}", i)

    def attack_args(self) -> dict:
        """ε in /255 units: the per-pixel bound (L∞) or the RMS per-pixel size (L2; the main window
        turns it into a whole-image norm)."""
        return {"method": self.attack_method.currentText(), "norm": self.norm.currentText(),
                "epsilon_255": self.epsilon.value(), "steps": self.steps.value(), "target": self.goal.currentData()}

    def add_trace(self, p: float) -> None:
        self.trace_values.append(p)
        self.trace_curve.setData(self.trace_values)
        self.readout.setText(f"{p:.1%}")

    def show_sweep(self, rows: list[dict]) -> None:
        self.sweep_plot.clear()
        eps = [r["epsilon"] * 255 for r in rows]
        self.sweep_plot.plot(eps, [r["confidence"] for r in rows], pen=pg.mkPen("#d32f2f", width=2),
                             symbol="o", name="confidence (original class)")
        self.sweep_plot.plot(eps, [r["spearman"] for r in rows], pen=pg.mkPen("#1976d2", width=2),
                             symbol="t", name=f"{rows[0].get('method', 'map') if rows else 'map'} Spearman vs clean")
