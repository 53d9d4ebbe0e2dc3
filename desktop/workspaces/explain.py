"""Explain: the canvas with the selected method's map, the method form, the predictions and the
metrics beside the map. Everything shown is the session's result for exactly the current
selection; otherwise the canvas says "not computed — Run (≈ N s)" (or that it is running)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QSlider, QSplitter, QVBoxLayout, QWidget)

from .. import adapters, metrics_adapters
from ..canvas import ImageCanvas
from ..method_panel import MethodPanel
from ..metrics_panel import MetricsPanel
from ..predictions import PredictionList
from ..sanity_view import SanityBadges

CANVAS_MIN = (320, 220)


class ExplainWorkspace(QWidget):
    title = "Explain"
    default_split = (0.72, 0.28)  # splitter shares (Reset layout)
    shown = Signal(object)  # the Explanation now on the canvas
    metrics_shown = Signal(object)

    def __init__(self, session, jobs, parent=None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.canvas = ImageCanvas()
        self.canvas.setObjectName("explain_canvas")
        self.canvas.setMinimumSize(*CANVAS_MIN)
        self.caption = QLabel("")
        self.caption.setObjectName("map_caption")
        self.caption.setWordWrap(True)
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setObjectName("opacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMaximumWidth(140)
        self.cmap = QComboBox()
        self.cmap.setObjectName("colormap")
        self.cmap.addItems(_colormaps())
        self.cmap.setCurrentText(self.canvas.cmap)
        self.methods = MethodPanel()
        self.predictions = PredictionList()
        self.predictions.setMinimumHeight(90)
        self.metrics = MetricsPanel()

        bar = QHBoxLayout()
        bar.addWidget(self.caption, 1)
        bar.addWidget(QLabel("opacity"))
        bar.addWidget(self.opacity)
        bar.addWidget(QLabel("colours"))
        bar.addWidget(self.cmap)
        top = QWidget()
        column = QVBoxLayout(top)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.canvas, 1)
        self.left = QSplitter(Qt.Vertical)
        self.left.setChildrenCollapsible(False)
        self.left.addWidget(top)
        self.left.addWidget(self.metrics)
        self.left.setStretchFactor(0, 3)
        self.left.setStretchFactor(1, 2)
        side = QWidget()
        side_column = QVBoxLayout(side)
        side_column.setContentsMargins(0, 0, 0, 0)
        side_column.addWidget(QLabel("<b>Prediction</b> (click a class to explain it)"))
        side_column.addWidget(self.predictions)
        self.right = QSplitter(Qt.Vertical)
        self.right.setChildrenCollapsible(False)
        self.right.addWidget(self.methods)
        self.right.addWidget(side)
        self.right.setStretchFactor(0, 3)
        self.right.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("explain_splitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(self.right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.right.setMinimumWidth(270)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

        self._syncing = False
        self._shown = None  # (key, result) on the canvas
        self._metrics_job = None
        self.opacity.valueChanged.connect(lambda v: self.canvas.set_opacity(v / 100))
        self.cmap.currentTextChanged.connect(self.canvas.set_cmap)
        self.methods.method_changed.connect(self._method_picked)
        self.methods.params_changed.connect(self._params_edited)
        self.methods.run_requested.connect(self.run)
        self.methods.cancel_requested.connect(lambda: self.jobs.cancel("explain"))
        self.predictions.target_selected.connect(session.set_target)
        self.metrics.compute_requested.connect(self.compute_metrics)
        self.metrics.settings_changed.connect(lambda: self._render_metrics(self.session.result()))
        session.model_changed.connect(self._model_changed)
        session.image_changed.connect(self.refresh)
        session.selection_changed.connect(self.refresh)
        session.results_changed.connect(self._results_changed)
        session.partial_map.connect(self._partial)
        session.timing_changed.connect(self.refresh)
        session.explain_cancelled.connect(self._cancelled)
        jobs.lane_changed.connect(lambda lane: self.methods.set_running(bool(session.running)))
        self.sanity = SanityBadges(session, jobs, self.methods, self)  # after the form syncs to the session

    # ----- from the form to the session -----
    def _method_picked(self, name: str) -> None:
        if not self._syncing:
            self.session.set_method(name)

    def _params_edited(self, method: str, params: dict) -> None:
        if not self._syncing and method == self.session.method:
            self.session.set_params(params)

    def run(self, method: str | None = None, params: dict | None = None) -> None:
        """Run (the button): the selected method with the form's values."""
        if method is not None:
            self.session.set_method(method, params)
        self.session.explain()
        self.render()

    # ----- from the session to the view -----
    def _model_changed(self) -> None:
        self.metrics.set_metrics(adapters.metric_specs(), self._input_hw())
        self.refresh()

    def _input_hw(self):
        ex = self.session.explainer
        return tuple(ex.x.shape[-2:]) if ex is not None else (224, 224)

    def sync_form(self) -> None:
        """Make the method form show the session's method and parameters."""
        s = self.session
        self._syncing = True
        try:
            if self.methods.current() != s.method:
                self.methods.select(s.method)
            if self.methods.params() != s.params:
                self.methods.set_params(s.params)
            ex = s.explainer
            if ex is not None:
                self.methods.set_timing(s.seconds_per_pass(), tuple(ex.x.shape[-2:]))
        finally:
            self._syncing = False

    def refresh(self) -> None:
        """After any change of selection: sync the form, rerun an instant method, render."""
        self.sync_form()
        s = self.session
        if s.explainer is not None and adapters.is_instant(s.spec()) and s.result() is None \
                and s.key() not in s.running:
            s.explain()
        self.render()

    def _results_changed(self, kind: str) -> None:
        if kind in ("explanation", "metrics"):
            self.render()

    def render(self) -> None:
        s = self.session
        ex = s.explainer
        if ex is None:
            self.canvas.clear_map("Open an image (File → Open image…, or drop one here)" if s.model else
                                  "Load a model")
            self.caption.setText("")
            self.predictions.clear()
            self._shown = None
            self._render_metrics(None)
            return
        self.predictions.set_predictions(ex.prediction, s.target_index())
        spec, key = s.spec(), s.key()
        result = s.get(key)
        image = result.extras.get("image") if result is not None and not adapters.makes_map(spec) else ex.display
        if self.canvas.image is not image:
            self.canvas.set_image(image)
            self._shown = None
        target = f"class {ex.bundle.label(key.target)} (#{key.target})"
        where = f" at layer {key.layer}" if key.layer else ""
        if result is not None:
            if self._shown is None or self._shown[1] is not result:
                if adapters.makes_map(spec):
                    self.canvas.set_map(result.map)
                else:
                    self.canvas.clear_map()
                self._shown = (key, result)
                self.shown.emit(result)
            said = " ".join(f"{k}: {result.info[k]}" for k in ("warning", "note") if k in result.info)
            self.caption.setText(f"<b>{spec.label}</b> for {target}{where} — {result.timings['method']:.2f} s"
                                 + (f"<br><i>{said}</i>" if said else ""))
            self.methods.set_status(f"computed in {result.timings['method']:.2f} s")
        elif key in s.running:
            if self._shown is not None:
                self.canvas.clear_map(f"{spec.label}: running…")
                self._shown = None
            self.caption.setText(f"<b>{spec.label}</b> for {target}{where} — running…")
        else:
            text = self.methods.estimate_text() or "not computed — Run ({})".format(
                adapters.estimate_text(spec, s.params, self._input_hw(), s.seconds_per_pass()))
            self.canvas.clear_map(f"{spec.label}: {text}")
            self._shown = None
            self.caption.setText(f"<b>{spec.label}</b> for {target}{where} — {text}")
            self.methods.set_status(text)
        self._render_metrics(result)

    def _partial(self, key, attr_map) -> None:
        s = self.session
        if key == s.key() and s.explainer is not None and attr_map.shape == s.explainer.display.shape[:2] \
                and s.get(key) is None:
            self.canvas.set_map(attr_map)
            self._shown = (key, None)

    def _cancelled(self, key) -> None:
        s = self.session
        label = s.spec(key.method).label
        if key != s.key():
            s.say(f"{label} cancelled")
            return
        last = s.last_finished
        if last is not None and last != key and s.get(last) is not None:
            s.select_key(last)  # the previous finished map returns, with its own name
            s.say(f"{label} cancelled — showing {s.spec(last.method).label} again")
        else:
            s.say(f"{label} cancelled")
            self.render()

    # ----- metrics -----
    def _render_metrics(self, result) -> None:
        s = self.session
        metrics = s.result("metrics") if result is not None else None
        self.canvas.clear_shapes()
        if metrics is not None:
            self.metrics.show_results(metrics["results"], metrics.get("asked"))
            self._draw_truth(metrics)
            if metrics.get("params", {}) != self.metrics.metric_params:
                self.metrics.set_state("computed with other metric settings — Compute metrics again")
        elif result is None:
            self.metrics.clear("Metrics score the map on the canvas: compute the map first.")
        elif self._metrics_job is not None and self._metrics_job[0] == s.key("metrics"):
            self.metrics.clear("computing metrics…")
        else:
            passes = adapters.metric_passes(self.metrics.chosen(), self._input_hw())
            estimate = adapters.estimate_text(_Passes(passes), {}, self._input_hw(), s.seconds_per_pass())
            self.metrics.clear(f"not computed — Compute metrics ({estimate})")

    def _draw_truth(self, metrics) -> None:
        box = metrics.get("box")
        if box is not None:
            self.canvas.add_box(box, "#00e676", "ground truth")
        results = metrics["results"]
        if "iou" in results and results["iou"].details.get("box"):
            self.canvas.add_box(results["iou"].details["box"], "#ff9100", "map box")
        if "pointing_game" in results and "point" in results["pointing_game"].details:
            self.canvas.add_point(*results["pointing_game"].details["point"])

    def compute_metrics(self, names: list[str] | None = None) -> None:
        s = self.session
        result = s.result()
        if result is None or not adapters.makes_map(s.spec()):
            s.notify("info", "Compute a map first: metrics score the map on the canvas.")
            return
        names = names if names is not None else self.metrics.chosen()
        key, explainer, image_path = s.key("metrics"), s.explainer, s.image_path
        params = {n: dict(v) for n, v in self.metrics.metric_params.items()}

        def job(progress):
            truth = adapters.ground_truth(explainer.bundle, image_path)
            return {"results": metrics_adapters.score(explainer, result, names, truth, params, progress),
                    "box": truth[0], "asked": list(names), "params": params}

        def done(value):
            self._metrics_job = None
            if s.put(key, value):
                s.say(f"{len(value['results'])} metrics computed for {s.spec(key.method).label}")
                self.metrics_shown.emit(value["results"])

        def ended(*_):
            self._metrics_job = None
            self.render()

        self._metrics_job = (key, self.jobs.submit("metrics", job, on_done=done, on_error=ended, on_cancel=ended))
        self.render()

    def write_metrics(self, path: Path) -> None:
        """CSV of metric values, or JSON with the curves too (by file extension)."""
        metrics = self.session.result("metrics")
        if metrics is None:
            raise ValueError("compute metrics first")
        path = Path(path)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps({"image": str(self.session.image_path), "method": self.session.method,
                                        "params": self.session.params,
                                        "metrics": [r.to_dict() for r in metrics["results"].values()]},
                                       indent=1, default=str))
        else:
            path.write_text("metric,value\n" + "".join(f"{k},{v}\n" for k, v in self.metrics.values.items()))


class _Passes:
    """A stand-in spec for ``estimate_text``: a fixed number of passes."""

    def __init__(self, n: int):
        self.n = n
        self.cost = "seconds"

    def passes(self, values=None, input_hw=None, channels=None) -> int:
        return max(1, self.n)


def _colormaps() -> list[str]:
    from core.render import COLORMAPS

    return list(COLORMAPS)
