"""The Dataset workspace's "Scan and bias" tab: a failure-mode scan of a labelled folder, the bias
report (where the explanation energy lies) and the counterfactual view of one mistake, each in a
job. Scan results belong to the model; bias and counterfactual results to the model, layer,
method and parameters (session keys), so they vanish when those change."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from . import adapters
from .dataset_jobs import submit_on_copy
from .scan_panel import ScanPanel


class ScanTab(QWidget):
    scan_shown = Signal(object)
    bias_shown = Signal(object)
    counterfactual_shown = Signal(object)

    def __init__(self, session, jobs, parent=None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.panel = ScanPanel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.panel)
        self.panel.scan_requested.connect(self.run_scan)
        self.panel.bias_requested.connect(self.run_bias_report)
        self.panel.mistake_opened.connect(self.open_mistake)
        for signal in (session.model_changed, session.selection_changed):
            signal.connect(self.render)
        session.results_changed.connect(self._results_changed)

    def _results_changed(self, kind: str) -> None:
        if kind in ("scan", "bias", "counterfactual"):
            self.render()

    def method(self) -> str:
        return adapters.map_method(self.session)

    def render(self) -> None:
        s = self.session
        self.panel.show_scan(s.result("scan"))
        self.panel.show_bias(s.result("bias", method=self.method()))
        cf = s.result("counterfactual", method=self.method())
        self.panel.show_counterfactual(None if cf is None else cf[1].image, "" if cf is None else cf[0])

    def _selection(self, kind: str):
        s = self.session
        method = self.method()
        return s.bundle, s.key(kind, method=method), (method, s.layer, s.params_for(method))

    def run_scan(self, source: str) -> None:
        if self.session.bundle is None:
            return
        bundle, key, _ = self._selection("scan")

        def done(result):
            if self.session.put(key, result):
                self.session.say(f"scan: accuracy {result.accuracy:.1%} on {len(result.files)} images")
                self.scan_shown.emit(result)

        submit_on_copy(self.jobs, bundle, "scan", lambda progress, copy: adapters.scan_folder(copy, source, progress),
                       on_done=done)

    def run_bias_report(self, folder: str, region=None) -> None:
        s = self.session
        if s.bundle is None:
            return
        if not (Path(folder) / "ground_truth.json").is_file():
            s.notify("warning", f"The bias report needs object masks: {Path(folder) / 'ground_truth.json'} "
                                "is missing.")
            return
        bundle, key, (method, layer, params) = self._selection("bias")

        def done(report):
            if s.put(key, report):
                s.say(f"bias report: {'flagged' if report.flagged else 'not flagged'}")
                self.bias_shown.emit(report)

        submit_on_copy(self.jobs, bundle, "bias report", lambda progress, copy: adapters.bias_over_folder(
            copy, folder, method, layer if s.spec(method).needs_layer else None, params, region, progress),
            on_done=done)

    def open_mistake(self, file: str, true_class: int, predicted: int) -> None:
        """Counterfactual view: the map of the predicted class beside the true class's."""
        s = self.session
        if s.bundle is None:
            return
        bundle, key, (method, layer, params) = self._selection("counterfactual")
        layer = layer if s.spec(method).needs_layer else None

        def done(cf):
            title = (f"{Path(file).name}: predicted {bundle.label(predicted)}, true {bundle.label(true_class)} — "
                     f"{s.spec(method).label}")
            if s.put(key, (title, cf)):
                self.counterfactual_shown.emit(cf.image)

        self.jobs.submit("counterfactual", lambda progress: adapters.counterfactual(
            bundle, file, predicted, true_class, method, layer, params, progress), on_done=done)
