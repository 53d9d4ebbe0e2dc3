"""The settings of the metrics, built from the metric registry's parameter schema (the same
widgets as the method form): one section per metric that has parameters, each parameter with its
plain label and its help (papers and defaults) as tooltip."""

from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QScrollArea, QVBoxLayout, QWidget)

from .method_panel import set_value, value_of, widget_for


class MetricSettingsDialog(QDialog):
    """Edit ``values`` ({metric: {param: value}}) for the metrics in ``specs`` that have
    parameters; ``result()`` after OK gives the values that differ from the defaults."""

    def __init__(self, specs: dict, values: dict[str, dict], parent=None):
        super().__init__(parent)
        self.setObjectName("metric_settings")
        self.setWindowTitle("Metric settings")
        self.specs = {name: spec for name, spec in specs.items() if spec.params}
        self.widgets: dict[str, dict] = {}
        host = QWidget()
        column = QVBoxLayout(host)
        for name, spec in self.specs.items():
            title = QLabel(f"<b>{spec.label}</b>")
            title.setToolTip(f"{spec.sentence}\n{spec.citation}")
            column.addWidget(title)
            form = QFormLayout()
            current = spec.resolve(values.get(name))
            self.widgets[name] = {}
            for param in spec.params:
                w = widget_for(param)
                set_value(w, current[param.name])
                label = QLabel(param.label)
                label.setToolTip(param.help)
                form.addRow(label, w)
                self.widgets[name][param.name] = w
            column.addLayout(form)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(host)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel | QDialogButtonBox.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.RestoreDefaults).setToolTip("every metric back to its paper's defaults")
        buttons.button(QDialogButtonBox.RestoreDefaults).clicked.connect(self.restore_defaults)
        note = QLabel("Hover a setting for what it does and which paper chose its default.")
        note.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)
        self.resize(420, 520)

    def set_values(self, values: dict[str, dict]) -> None:
        """Set some widgets: {metric: {param: value}}."""
        for name, params in values.items():
            for param, value in params.items():
                set_value(self.widgets[name][param], value)

    def restore_defaults(self) -> None:
        self.set_values({name: spec.resolve() for name, spec in self.specs.items()})

    def values(self) -> dict[str, dict]:
        """{metric: {param: value}} of the settings that differ from the defaults."""
        out = {}
        for name, spec in self.specs.items():
            defaults = spec.resolve()
            changed = {p: value_of(w) for p, w in self.widgets[name].items() if value_of(w) != defaults[p]}
            if changed:
                out[name] = changed
        return out
