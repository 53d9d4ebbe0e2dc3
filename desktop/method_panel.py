"""The method panel, built entirely from the core registry's schema: no method or family is
named here, so a newly registered method appears with its form.

Under the picker sits the method's plain sentence (formula and citation in its tooltip) and a
status line (instant methods update by themselves; others say "not computed — Run (≈ N s)").
Basic parameters come first; advanced ones fold into a collapsible "Advanced" section; a
parameter that does not matter for the current values (``Param.is_relevant``) is hidden. The
form scrolls, so a long one never grows the window.

A sanity badge says whether the method's map depends on the model's weights (the cascading
randomisation check, Adebayo et al. 2018), beside the method in the picker and under it, with a
"Check" button while it is unknown and "Cascade curve" once known; the presenter
(``desktop.sanity_view.SanityBadges``) computes verdicts and hands them in with ``set_sanity``.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSizePolicy, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from core.methods import REGISTRY, MethodSpec, Param, estimate_seconds, format_seconds

CHANGE_DELAY_MS = 300  # params_changed waits this long after the last edit (typing "50" is one change)
MAX_FORM_HEIGHT = 420  # px the form asks for; longer forms scroll


def widget_for(param: Param) -> QWidget:
    """An input widget for one schema parameter, set to its default, its help as tooltip."""
    if param.kind == "bool":
        w = QCheckBox()
        w.setChecked(bool(param.default))
    elif param.kind == "int":
        w = QSpinBox()
        w.setRange(int(param.min if param.min is not None else -10**9), int(param.max if param.max is not None else 10**9))
        w.setValue(int(param.default))
    elif param.kind == "float":
        w = QDoubleSpinBox()
        w.setDecimals(5 if param.min and 0 < param.min < 1e-4 else 4)
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


def set_value(w: QWidget, value) -> None:
    if isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
        w.setValue(value)
    else:
        w.setCurrentText(str(value))


def _changed_signal(w: QWidget):
    if isinstance(w, QCheckBox):
        return w.toggled
    if isinstance(w, (QSpinBox, QDoubleSpinBox)):
        return w.valueChanged
    return w.currentTextChanged


class FormScroll(QScrollArea):
    """A scroll area that asks for its form's height, up to ``MAX_FORM_HEIGHT``."""

    def sizeHint(self) -> QSize:
        inner = self.widget().sizeHint() if self.widget() else QSize(200, 100)
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(inner.width() + bar, min(inner.height(), MAX_FORM_HEIGHT))


class MethodPanel(QWidget):
    """Method picker, generated parameter form, Run / Cancel.

    Signals: ``run_requested(method, params)``, ``cancel_requested()``, ``method_changed(method)``
    and ``params_changed(method, params)`` (a value edited, debounced by ``CHANGE_DELAY_MS``).
    """

    run_requested = Signal(str, dict)
    cancel_requested = Signal()
    method_changed = Signal(str)
    params_changed = Signal(str, dict)
    sanity_check_requested = Signal(str)  # method
    cascade_requested = Signal(str)  # method

    def __init__(self, parent=None):
        super().__init__(parent)
        self.method = QComboBox()
        self.method.setObjectName("method")
        families = list(dict.fromkeys(spec.family for spec in REGISTRY.values()))  # registration order
        for i, family in enumerate(families):
            if i:
                self.method.insertSeparator(self.method.count())
            for spec in REGISTRY.values():
                if spec.family == family:
                    self.method.addItem(spec.label, spec.name)
                    self.method.setItemData(self.method.count() - 1, spec.description, Qt.ToolTipRole)
        self.description = QLabel()
        self.description.setObjectName("method_description")
        self.description.setWordWrap(True)
        self.citation = self.description  # the old name of this label
        self.sanity_badge = QLabel()
        self.sanity_badge.setObjectName("sanity_badge")
        self.sanity_badge.setWordWrap(True)
        self.sanity_check = QPushButton("Check")
        self.sanity_check.setObjectName("sanity_check")
        self.sanity_check.setToolTip("run the sanity check for this method now, in the background: "
                                     "randomise the model's blocks from the top and see whether the map changes")
        self.sanity_curve = QPushButton("Cascade curve")
        self.sanity_curve.setObjectName("sanity_curve")
        self.sanity_curve.setToolTip("show how similar the map stays as each block is randomised")
        self.sanity_row = QWidget()
        badge_row = QHBoxLayout(self.sanity_row)
        badge_row.setContentsMargins(0, 0, 0, 0)
        badge_row.addWidget(self.sanity_badge, 1)
        badge_row.addWidget(self.sanity_check)
        badge_row.addWidget(self.sanity_curve)
        self.sanity_row.setVisible(False)
        self._sanity: dict[str, tuple[str, dict | None, str]] = {}  # method → (state, verdict, note)
        self.status = QLabel()
        self.status.setObjectName("method_status")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #888;")

        self.basic_form = QFormLayout()
        self.no_settings = QLabel("Nothing to set for this method.")
        self.no_settings.setStyleSheet("color: #888;")
        self.no_settings.setWordWrap(True)
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setObjectName("advanced_toggle")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_box = QWidget()
        self.advanced_box.setObjectName("advanced_box")
        self.advanced_form = QFormLayout(self.advanced_box)
        self.advanced_form.setContentsMargins(12, 0, 0, 0)
        self.advanced_box.setVisible(False)
        host = QWidget()
        inner = QVBoxLayout(host)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(self.basic_form)
        inner.addWidget(self.no_settings)
        inner.addWidget(self.advanced_toggle)
        inner.addWidget(self.advanced_box)
        inner.addStretch(1)
        self.scroll = FormScroll()
        self.scroll.setObjectName("method_form")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.scroll.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)
        self.scroll.setWidget(host)

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
        layout.addWidget(self.description)
        layout.addWidget(self.sanity_row)
        layout.addWidget(self.status)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(buttons)

        self.widgets: dict[str, QWidget] = {}
        self._timing: tuple[float | None, tuple[int, int], int | None] = (None, (224, 224), None)
        self._change_timer = QTimer(self)
        self._change_timer.setSingleShot(True)
        self._change_timer.setInterval(CHANGE_DELAY_MS)
        self._change_timer.timeout.connect(lambda: self.params_changed.emit(self.current(), self.params()))
        self.advanced_toggle.toggled.connect(self._fold)
        self.method.currentIndexChanged.connect(self._rebuild)
        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.current(), self.params()))
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.sanity_check.clicked.connect(lambda: self.sanity_check_requested.emit(self.current()))
        self.sanity_curve.clicked.connect(lambda: self.cascade_requested.emit(self.current()))
        self._rebuild()

    # -- public API -------------------------------------------------------------------------

    def current(self) -> str:
        return self.method.currentData()

    def spec(self) -> MethodSpec:
        """The registry entry of the selected method."""
        return REGISTRY[self.current()]

    def select(self, name: str) -> None:
        index = self.method.findData(name)
        if index < 0:
            raise ValueError(f"unknown method {name!r}")
        self.method.setCurrentIndex(index)

    def params(self) -> dict:
        """Every parameter's value, hidden and folded ones included."""
        return {name: value_of(w) for name, w in self.widgets.items()}

    def set_params(self, values: dict) -> None:
        """Set some parameters' widgets (unknown names raise ``ValueError``); a programmatic
        change, so ``params_changed`` (user edits) is not emitted for it."""
        for name, value in values.items():
            set_value(self.widgets[self.spec().param(name).name], value)
        self._change_timer.stop()

    def is_shown(self, name: str) -> bool:
        """Whether the parameter's row is shown (relevant; advanced ones also need unfolding)."""
        param = self.spec().param(name)
        return param.is_relevant(self.params()) and (not param.advanced or self.advanced_toggle.isChecked())

    def set_advanced_open(self, open_: bool) -> None:
        self.advanced_toggle.setChecked(open_)

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)

    def set_timing(self, seconds_per_pass: float | None, input_hw: tuple[int, int] = (224, 224),
                   channels: int | None = None) -> None:
        """A measured time per forward(+backward) pass, for the "≈ N s" estimate of slow methods."""
        self._timing = (seconds_per_pass, tuple(input_hw), channels)
        self._refresh_status()

    def estimate_text(self) -> str:
        """"" for instant methods, else "not computed — Run (≈ N s)" (the cost class until timed)."""
        spec = self.spec()
        if spec.auto_run:
            return ""
        per_pass, hw, channels = self._timing
        if per_pass is None:
            return f"not computed — Run (takes {spec.cost})"
        seconds = estimate_seconds(spec, self.params(), hw, per_pass, channels=channels)
        return f"not computed — Run ({format_seconds(seconds)})"

    def set_sanity(self, method: str, state: str, verdict: dict | None = None, note: str = "") -> None:
        """The sanity badge of ``method``: ``state`` "done" (with the ``verdict`` of
        ``core.metrics.sanity_verdict``), "unknown" (``note``: e.g. the time it would take),
        "running", or "none" (not applicable: the method makes no map). The picker's entry is
        marked ✓ / ⚠ once a verdict is known."""
        self._sanity[method] = (state, verdict, note)
        index = self.method.findData(method)
        if index >= 0:
            spec = REGISTRY[method]
            mark = "" if verdict is None else ("  ✓" if verdict["passes"] else "  ⚠")
            self.method.setItemText(index, spec.label + mark)
            self.method.setItemData(index, spec.description + ("" if verdict is None else
                                                               f"\nSanity check: {verdict['verdict']}"),
                                    Qt.ToolTipRole)
        if method == self.current():
            self._show_sanity()

    def sanity_text(self) -> str:
        """The badge as plain text (what a user reads under the picker)."""
        return self.sanity_badge.text() if self.sanity_row.isVisible() else ""

    def _show_sanity(self) -> None:
        state, verdict, note = self._sanity.get(self.current(), ("none", None, ""))
        self.sanity_row.setVisible(state != "none")
        self.sanity_check.setVisible(state == "unknown")
        self.sanity_curve.setVisible(state == "done")
        rule = ("Sanity check (Adebayo et al. 2018, §3.1): the model's blocks are re-initialised one at a "
                "time from the output down and each new map is compared with the original. A method whose "
                "map barely changes does not explain this model.")
        if state == "done" and verdict is not None:
            good = verdict["passes"]
            self.sanity_badge.setText(("✓ " if good else "⚠ ") + verdict["verdict"])
            self.sanity_badge.setStyleSheet(f"color: {'#2e7d32' if good else '#e65100'}; font-weight: bold;")
            self.sanity_badge.setToolTip(
                f"{rule}\nSimilarity after randomising the top blocks: {verdict['top_similarity']:.2f} "
                f"(lower is better; over {verdict['images']} images).\nRule: {verdict['rule']}.")
        else:
            text = {"running": "Sanity check: running in the background…",
                    "unknown": "Sanity check: not run yet" + (f" ({note})" if note else "")}.get(state, "")
            self.sanity_badge.setText(text)
            self.sanity_badge.setStyleSheet("color: #888;")
            self.sanity_badge.setToolTip(rule)

    def set_status(self, text: str) -> None:
        """Free text in the status line (e.g. "computed in 3.1 s" after a run)."""
        self.status.setText(text)
        self.status.setVisible(bool(text))

    # -- internals --------------------------------------------------------------------------

    def _refresh_status(self) -> None:
        self.set_status(self.estimate_text())

    def _fold(self, open_: bool) -> None:
        self.advanced_toggle.setArrowType(Qt.DownArrow if open_ else Qt.RightArrow)
        self.advanced_box.setVisible(open_)
        self.scroll.updateGeometry()

    def _rebuild(self) -> None:
        self._change_timer.stop()
        for form in (self.basic_form, self.advanced_form):
            while form.rowCount():
                form.removeRow(0)
        spec = self.spec()
        self.description.setText(spec.description)
        self.description.setToolTip(f"{spec.summary}\n{spec.citation}")
        self.method.setToolTip(spec.description)
        self._show_sanity()
        self.widgets = {}
        for param in spec.params:
            w = widget_for(param)
            label = QLabel(param.label)
            label.setToolTip(param.help)
            label.setBuddy(w)
            (self.advanced_form if param.advanced else self.basic_form).addRow(label, w)
            self.widgets[param.name] = w
            _changed_signal(w).connect(self._value_changed)
        count = len(spec.advanced_params())
        self.advanced_toggle.setText(f"Advanced ({count})")
        self.advanced_toggle.setVisible(bool(count))
        self._fold(bool(count) and self.advanced_toggle.isChecked())
        self.no_settings.setText("Nothing to set here; the defaults suit most uses." if count
                                 else "Nothing to set for this method.")
        self.no_settings.setVisible(not spec.basic_params())
        self._update_relevance()
        self._refresh_status()
        self.method_changed.emit(spec.name)

    def _update_relevance(self) -> None:
        values = self.params()
        for param in self.spec().params:
            form = self.advanced_form if param.advanced else self.basic_form
            form.setRowVisible(self.widgets[param.name], param.is_relevant(values))
        self.scroll.updateGeometry()

    def _value_changed(self, *_args) -> None:
        self._update_relevance()
        self._refresh_status()
        self._change_timer.start()
