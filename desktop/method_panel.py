"""The method panel: the method list and parameter forms are generated from the core registry."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from core.methods import REGISTRY, Param

FAMILY_NAMES = {"gradient": "Gradients", "cam": "Class activation maps", "perturbation": "Perturbation",
                "synthesis": "Synthesis"}


def widget_for(param: Param) -> QWidget:
    """An input widget for one schema parameter, set to its default."""
    if param.kind == "bool":
        w = QCheckBox()
        w.setChecked(bool(param.default))
    elif param.kind == "int":
        w = QSpinBox()
        w.setRange(int(param.min if param.min is not None else -10**9), int(param.max if param.max is not None else 10**9))
        w.setValue(int(param.default))
    elif param.kind == "float":
        w = QDoubleSpinBox()
        w.setDecimals(4)
        w.setRange(float(param.min if param.min is not None else -1e9), float(param.max if param.max is not None else 1e9))
        w.setSingleStep(max(abs(float(param.default)) / 10, 1e-3) if param.default else 0.01)
        w.setValue(float(param.default))
    else:
        w = QComboBox()
        w.addItems(list(param.choices))
        w.setCurrentText(str(param.default))
    w.setToolTip(param.help)
    w.setObjectName(f"param_{param.name}")
    return w


def value_of(w: QWidget):
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, (QSpinBox, QDoubleSpinBox)):
        return w.value()
    return w.currentText()


class MethodPanel(QWidget):
    run_requested = Signal(str, dict)
    cancel_requested = Signal()
    method_changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.method = QComboBox()
        self.method.setObjectName("method")
        for family in FAMILY_NAMES:
            for spec in REGISTRY.values():
                if spec.family == family:
                    self.method.addItem(f"{spec.label}", spec.name)
        self.citation = QLabel()
        self.citation.setWordWrap(True)
        self.citation.setStyleSheet("color: #888;")
        self.form = QFormLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.method)
        layout.addWidget(self.citation)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.widgets: dict[str, QWidget] = {}
        self.method.currentIndexChanged.connect(self._rebuild)
        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.current(), self.params()))
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self._rebuild()

    def current(self) -> str:
        return self.method.currentData()

    def select(self, name: str) -> None:
        self.method.setCurrentIndex(self.method.findData(name))

    def params(self) -> dict:
        return {name: value_of(w) for name, w in self.widgets.items()}

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)

    def _rebuild(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        spec = REGISTRY[self.current()]
        self.citation.setText(f"{spec.summary}\n{spec.citation}")
        self.widgets = {}
        for param in spec.params:
            w = widget_for(param)
            self.widgets[param.name] = w
            self.form.addRow(param.name.replace("_", " "), w)
        self.method_changed.emit(spec.name)
