"""Diagnose controls: the occlusion patch (size, fill) and the adversarial attack (method, norm,
ε, steps, goal). The views (image with the patch, attack results, plots) live in the Diagnose
workspace; this panel only emits what the user asked for."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

FILLS = ("grey", "blur", "noise", "black")
ATTACKS = ("pgd", "fgsm")
NORMS = ("linf", "l2")


def _fills() -> list[str]:
    try:
        from core.methods.perturbation import FILLS as core_fills
    except ImportError:
        return list(FILLS)
    return [f for f in core_fills if f != "zeros"]


class DiagnosePanel(QWidget):
    patch_toggled = Signal(bool)
    patch_changed = Signal()  # size or fill
    attack_requested = Signal(dict)
    epsilon_sweep_requested = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        occl = QGroupBox("Drag to occlude")
        self.patch = QCheckBox("show the patch")
        self.patch.setObjectName("patch")
        self.patch.setToolTip("then drag it over the image and watch the target probability")
        self.size = QSpinBox()
        self.size.setRange(2, 512)
        self.size.setValue(24)
        self.size.setSuffix(" px")
        self.fill = QComboBox()
        self.fill.addItems(_fills())
        self.fill.setCurrentText("grey")
        self.fill.setToolTip("what the hidden pixels become")
        self.readout = QLabel("—")
        self.readout.setObjectName("occlusion_readout")
        self.readout.setWordWrap(True)
        form = QFormLayout(occl)
        form.addRow(self.patch)
        form.addRow("size", self.size)
        form.addRow("fill", self.fill)
        form.addRow("target p", self.readout)

        adv = QGroupBox("Adversarial noise")
        self.attack_method = QComboBox()
        self.attack_method.addItems(list(ATTACKS))
        self.attack_method.setToolTip("PGD: several small steps; FGSM: one step")
        self.norm = QComboBox()
        self.norm.addItems(list(NORMS))
        self.norm.setToolTip("linf: every pixel changes by at most ε; l2: ε is the RMS change per pixel")
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
        self.run = QPushButton("Attack")
        self.run.setObjectName("attack")
        self.sweep = QPushButton("ε sweep")
        self.sweep.setObjectName("epsilon_sweep")
        self.sweep.setToolTip("attack at ε = 0, 1, 2, 4, 8, 16 /255: confidence and how much the map changes")
        self.method_note = QLabel("")
        self.method_note.setWordWrap(True)
        self.method_note.setStyleSheet("color: #888;")
        form = QFormLayout()
        form.addRow("attack", self.attack_method)
        form.addRow("norm", self.norm)
        form.addRow("ε", self.epsilon)
        form.addRow("steps", self.steps)
        form.addRow("goal", self.goal)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run)
        buttons.addWidget(self.sweep)
        box = QVBoxLayout(adv)
        box.addLayout(form)
        box.addLayout(buttons)
        box.addWidget(self.method_note)

        for box in (self.fill, self.attack_method, self.norm, self.goal):  # narrow: the panel never scrolls sideways
            box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(6)
        layout = QVBoxLayout(self)
        layout.addWidget(occl)
        layout.addWidget(adv)
        layout.addStretch(1)
        self.patch.toggled.connect(self.patch_toggled.emit)
        self.size.valueChanged.connect(lambda _v: self.patch_changed.emit())
        self.fill.currentTextChanged.connect(lambda _t: self.patch_changed.emit())
        self.run.clicked.connect(lambda: self.attack_requested.emit(self.attack_args()))
        self.sweep.clicked.connect(lambda: self.epsilon_sweep_requested.emit(self.attack_args()))

    def set_classes(self, labels: list[str]) -> None:
        self.goal.clear()
        self.goal.addItem("untargeted", None)
        for i, name in enumerate(labels[:1000]):
            self.goal.addItem(f"→ {name}", i)

    def attack_args(self) -> dict:
        """ε in /255 units: the per-pixel bound (L∞) or the RMS per-pixel size (L2)."""
        return {"method": self.attack_method.currentText(), "norm": self.norm.currentText(),
                "epsilon_255": self.epsilon.value(), "steps": self.steps.value(), "target": self.goal.currentData()}
