"""The main window: docks around the image canvas, every heavy call run by the JobRunner."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QByteArray, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QProgressBar, QPushButton, QScrollArea, QSlider, QToolBar, QVBoxLayout,
                               QWidget)

from core.diagnose.adversarial import amplified, attack, epsilon_sweep, explain_attack, map_function
from core.diagnose.bias import bias_report
from core.diagnose.occlude import Occluder
from core.diagnose.scan import read_labelled, scan
from core.evaluate import read_annotations
from core.explain import Explainer
from core.images import IMAGE_SUFFIXES, load_image
from core.capture import LayerError
from core.layers import default_layer, layer_table
from core.methods import REGISTRY
from core.metrics import faithfulness as faith
from core.metrics import localization as loc
from core.models import load_model
from core.render import COLORMAPS, grid, overlay, save_png
from core.targets import ClassTarget

from .canvas import ImageCanvas
from .diagnose_panel import DiagnosePanel
from .scan_panel import ScanPanel
from .jobs import JobRunner
from .method_panel import MethodPanel
from .metrics_panel import MetricsPanel
from .model_browser import ModelBrowser
from .predictions import PredictionList

LAYOUT_VERSION = 1
AUTO_RUN_FAMILIES = ("gradient", "cam")  # cheap enough to rerun on every click


class _Relay(QObject):
    """Carries intermediate maps from the worker thread to the GUI thread."""

    partial = Signal(object)


def devices() -> list[str]:
    out = ["cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out.append("mps")
    return out


class MainWindow(QMainWindow):
    explanation_shown = Signal(object)  # Explanation (tests wait on these)
    metrics_shown = Signal(object)
    message_shown = Signal(str)
    occlusion_probed = Signal(object)  # OcclusionProbe
    attack_shown = Signal(object)  # AttackExplanation
    epsilon_sweep_shown = Signal(object)  # list of rows
    scan_shown = Signal(object)
    counterfactual_shown = Signal(object)
    bias_shown = Signal(object)

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("Saliency Studio")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("SaliencyStudio", "SaliencyStudio")
        self.jobs = JobRunner(self)
        self.relay = _Relay()
        self.bundle = None
        self.explainer: Explainer | None = None
        self.image_path: Path | None = None
        self.layer: str | None = None
        self.target: ClassTarget | None = None
        self.result = None
        self.metric_results: dict = {}
        self._load_args: tuple | None = None

        self.canvas = ImageCanvas()
        self.setCentralWidget(self.canvas)
        self.models = ModelBrowser()
        self.methods = MethodPanel()
        self.predictions = PredictionList()
        self.metrics = MetricsPanel()
        self.compare = self._compare_widget()
        left = self._dock("Model and layers", self.models, Qt.LeftDockWidgetArea)
        right = self._dock("Method", self.methods, Qt.RightDockWidgetArea)
        self._dock("Predictions", self.predictions, Qt.RightDockWidgetArea)
        metrics = self._dock("Metrics", self.metrics, Qt.BottomDockWidgetArea)
        compare = self._dock("Compare", self.compare, Qt.BottomDockWidgetArea)
        self.diagnose = DiagnosePanel()
        scroller = QScrollArea()  # a tall panel must not force a tall window
        scroller.setWidgetResizable(True)
        scroller.setWidget(self.diagnose)
        diagnose = self._dock("Diagnose", scroller, Qt.BottomDockWidgetArea)
        self.scan = ScanPanel()
        scan_scroller = QScrollArea()
        scan_scroller.setWidgetResizable(True)
        scan_scroller.setWidget(self.scan)
        scan = self._dock("Scan", scan_scroller, Qt.BottomDockWidgetArea)
        self.tabifyDockWidget(metrics, compare)
        self.tabifyDockWidget(metrics, diagnose)
        self.tabifyDockWidget(metrics, scan)
        metrics.raise_()
        self.resizeDocks([left, right], [330, 330], Qt.Horizontal)
        self.resizeDocks([metrics], [300], Qt.Vertical)
        self._toolbar()
        self._menus()
        self._status_bar()

        self.models.load_requested.connect(self.load_model)
        self.models.file_load_requested.connect(
            lambda path, trust, inputs: self.load_model(path, "DEFAULT", trust, inputs))
        self.models.layer_selected.connect(self.set_layer)
        self.methods.run_requested.connect(self.run_method)
        self.methods.cancel_requested.connect(lambda: self.jobs.cancel())
        self.methods.method_changed.connect(self._method_changed)
        self.predictions.target_selected.connect(self.set_target)
        self.metrics.compute_requested.connect(self.compute_metrics)
        self.relay.partial.connect(self._show_partial)
        self.diagnose.patch_toggled.connect(self._toggle_patch)
        self.diagnose.patch_size_changed.connect(lambda size: self._toggle_patch(self.diagnose.patch.isChecked()))
        self.diagnose.sweep_requested.connect(self._sweep_patch)
        self.diagnose.attack_requested.connect(self.run_attack)
        self.diagnose.epsilon_sweep_requested.connect(self.run_epsilon_sweep)
        self.scan.scan_requested.connect(self.run_scan)
        self.scan.mistake_opened.connect(self.open_mistake)
        self.scan.bias_requested.connect(self.run_bias_report)
        self.canvas.patch_moved.connect(lambda box: self.probe_patch(box, final=False))
        self.canvas.patch_released.connect(lambda box: self.probe_patch(box, final=True))
        self.occlusion_requests = 0
        self.occlusion_results = 0
        self._occluder = None
        self.jobs.progressed.connect(self._progress)
        self.jobs.finished.connect(self._job_finished)
        self.jobs.failed.connect(self._job_failed)
        self.jobs.cancelled.connect(lambda _id, kind: self.show_message(f"{kind} cancelled"))
        self.jobs.busy_changed.connect(self._busy)
        self._handlers: dict[int, object] = {}
        self._elapsed_timer = QTimer(self)
        self._elapsed_timer.timeout.connect(self._tick)
        self.restore_state()

    # ----- layout -----
    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _toolbar(self) -> None:
        bar = QToolBar("View")
        bar.setObjectName("view_toolbar")
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setObjectName("opacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMaximumWidth(140)
        self.opacity.valueChanged.connect(lambda v: self.canvas.set_opacity(v / 100))
        self.cmap = QComboBox()
        self.cmap.addItems(list(COLORMAPS))
        self.cmap.currentTextChanged.connect(self.canvas.set_cmap)
        prev_button, next_button = QPushButton("◀ previous"), QPushButton("next ▶")
        prev_button.clicked.connect(lambda: self.step_image(-1))
        next_button.clicked.connect(lambda: self.step_image(1))
        for w in (QLabel(" opacity "), self.opacity, QLabel(" colormap "), self.cmap, prev_button, next_button):
            bar.addWidget(w)
        self.addToolBar(bar)

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (("Open image…", QKeySequence.Open, self._ask_image),
                                     ("Export overlay PNG…", None, self.export_overlay),
                                     ("Export comparison grid PNG…", None, self.export_compare),
                                     ("Export metrics CSV / JSON…", None, self.export_metrics),
                                     ("Quit", QKeySequence.Quit, self.close)):
            action = QAction(text, self)
            if shortcut:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        for key, step in ((Qt.Key_Right, 1), (Qt.Key_Left, -1)):
            action = QAction(self)
            action.setShortcut(key)
            action.triggered.connect(lambda _=False, s=step: self.step_image(s))
            self.addAction(action)

    def _status_bar(self) -> None:
        self.device = QComboBox()
        self.device.setObjectName("device")
        self.device.addItems(devices())
        self.device.currentTextChanged.connect(self._device_changed)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setTextVisible(False)
        self.elapsed = QLabel("")
        self.message = QLabel("ready")
        bar = self.statusBar()
        bar.addWidget(self.message, 1)
        bar.addPermanentWidget(self.elapsed)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(QLabel("device"))
        bar.addPermanentWidget(self.device)

    def _compare_widget(self) -> QWidget:
        box = QWidget()
        self.compare_list = QListWidget()
        for spec in REGISTRY.values():
            if spec.family in AUTO_RUN_FAMILIES:
                item = QListWidgetItem(spec.label)
                item.setData(Qt.UserRole, spec.name)
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Checked if spec.name in ("gradcam", "gradcam_pp", "guided_backprop",
                                                               "integrated_gradients") else Qt.Unchecked)
                self.compare_list.addItem(item)
        run = QPushButton("Compare side by side")
        run.setObjectName("compare")
        run.clicked.connect(self.run_compare)
        self.compare_canvas = ImageCanvas()
        layout = QVBoxLayout(box)
        layout.addWidget(self.compare_list, 1)
        layout.addWidget(run)
        layout.addWidget(self.compare_canvas, 3)
        return box

    # ----- settings -----
    def restore_state(self) -> None:
        if int(self.settings.value("layout_version", 0)) != LAYOUT_VERSION:
            self.resize(1400, 900)
            return
        geometry = self.settings.value("geometry")
        state = self.settings.value("state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, LAYOUT_VERSION)

    def save_state(self) -> None:
        self.settings.setValue("layout_version", LAYOUT_VERSION)
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def closeEvent(self, event) -> None:
        self.save_state()
        self.jobs.shutdown()
        super().closeEvent(event)

    # ----- jobs -----
    def _submit(self, kind: str, fn, on_done) -> int:
        job_id = self.jobs.submit(kind, fn)
        self._handlers[job_id] = on_done
        return job_id

    def _job_finished(self, job_id: int, kind: str, result, seconds: float) -> None:
        handler = self._handlers.pop(job_id, None)
        if handler is not None:
            try:
                handler(result)
            except Exception as exc:  # a display bug must not take the window down
                self.show_message(f"error showing {kind}: {exc}")
                return
        self.elapsed.setText(f"{kind}: {seconds:.2f} s")

    def _job_failed(self, job_id: int, kind: str, message: str, trace: str) -> None:
        self._handlers.pop(job_id, None)
        self.show_message(f"{kind} failed: {message}")

    def _progress(self, job_id: int, kind: str, done: int, total: int, message: str) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _busy(self, busy: bool) -> None:
        self.methods.set_running(busy)
        if busy:
            self._busy_since = time.perf_counter()
            self._elapsed_timer.start(200)
        else:
            self._elapsed_timer.stop()
            self.progress.setValue(self.progress.maximum())

    def _tick(self) -> None:
        kind = self.jobs.running_kind()
        if kind:
            self.elapsed.setText(f"{kind}: {time.perf_counter() - self._busy_since:.1f} s")

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message_shown.emit(text)

    # ----- actions -----
    def load_model(self, spec: str, weights: str = "DEFAULT", trust: bool = False, inputs=None) -> None:
        """``inputs``: an ``InputSpec`` (size, channels, mean/std, channel order) for a model file."""
        device = self.device.currentText()
        self._pending_load = (spec, weights, trust, inputs)
        self.show_message(f"loading {spec}…")

        def job(progress):
            bundle = load_model(spec, weights, trust=trust, device=device, progress=progress, inputs=inputs)
            table = layer_table(bundle)
            try:
                layer = default_layer(bundle, table)
            except LayerError:  # TorchScript or no spatial layer: gradient and perturbation methods only
                layer = None
            return bundle, table, layer

        self._submit("model", job, self._model_loaded)

    def _model_loaded(self, result) -> None:
        self.bundle, table, self.layer = result
        self._load_args = self._pending_load
        self.diagnose.set_classes(self.bundle.labels or [])
        self.models.set_layers(table, self.layer)
        index = self.models.model.findText(self.bundle.name)
        if index >= 0:
            self.models.model.setCurrentIndex(index)
        self.show_message(f"{self.bundle.name} loaded ({self.bundle.source}); " + (
            f"layer {self.layer}" if self.layer else "no layer can be targeted: layer methods are unavailable"))
        self._show_model_warnings(self.bundle.warnings)
        self.target = None
        if self.image_path is not None:
            self.open_image(self.image_path)

    def _show_model_warnings(self, warnings: list[str]) -> None:
        """Load-time warnings (e.g. batch-dependent BatchNorm): status line and a non-modal box."""
        if not warnings:
            return
        from PySide6.QtWidgets import QMessageBox

        self.show_message("warning: " + "; ".join(warnings))
        self.model_warning = QMessageBox(QMessageBox.Warning, "Model warning", "\n\n".join(warnings),
                                         QMessageBox.Ok, self)
        self.model_warning.setObjectName("model_warning")
        self.model_warning.open()

    def _device_changed(self, device: str) -> None:
        if self._load_args is not None:  # the same model again, on the new device
            self.load_model(*self._load_args)

    def _ask_image(self) -> None:
        pattern = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", f"Images ({pattern});;All (*)")
        if path:
            self.open_image(Path(path))

    def open_image(self, path: Path) -> None:
        path = Path(path)
        if self.bundle is None:
            self.show_message("load a model first")
            return
        bundle = self.bundle
        self.show_message(f"opening {path.name}…")

        def job(progress):
            return path, Explainer(bundle, load_image(path), prefetch=True)

        self._submit("image", job, self._image_opened)

    def _image_opened(self, result) -> None:
        self.image_path, self.explainer = result
        self.target = None
        self.result = None
        self.canvas.set_image(self.explainer.display)
        self.predictions.set_predictions(self.explainer.prediction, self.explainer.prediction[0][0])
        top = self.explainer.prediction[0]
        self.show_message(f"{self.image_path.name}: {top[1]} ({top[2]:.1%})")
        self.run_method(self.methods.current(), self.methods.params())

    def step_image(self, step: int) -> None:
        if self.image_path is None:
            return
        siblings = sorted(p for p in self.image_path.parent.iterdir()
                          if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_mask"))
        if self.image_path in siblings:
            self.open_image(siblings[(siblings.index(self.image_path) + step) % len(siblings)])

    def set_layer(self, name: str) -> None:
        self.layer = name
        self.show_message(f"target layer: {name}")
        if REGISTRY[self.methods.current()].needs_layer:
            self.run_method(self.methods.current(), self.methods.params())

    def set_target(self, index: int) -> None:
        self.target = ClassTarget(index)
        self.run_method(self.methods.current(), self.methods.params())

    def _method_changed(self, name: str) -> None:
        if self.explainer is not None and REGISTRY[name].family in AUTO_RUN_FAMILIES:
            self.run_method(name, self.methods.params())

    def run_method(self, method: str, params: dict) -> None:
        if self.explainer is None:
            self.show_message("open an image first")
            return
        explainer, target, layer, relay = self.explainer, self.target, self.layer, self.relay
        spec = REGISTRY[method]
        self.show_message(f"running {spec.label}…")

        def partial(out):
            m = out.map.detach().cpu().numpy() if torch.is_tensor(out.map) else np.asarray(out.map)
            relay.partial.emit(np.asarray(m, np.float32))

        def job(progress):
            return explainer.explain(method, target=target, layer=layer if spec.needs_layer else None,
                                     params=params, progress=progress, partial=partial)

        self._submit("explain", job, self._show_explanation)

    def _show_partial(self, attr_map) -> None:
        if self.explainer is not None and attr_map.shape == self.explainer.display.shape[:2]:
            self.canvas.set_map(attr_map)

    def _show_explanation(self, result) -> None:
        if self.explainer is None or result.image is not self.explainer.display:
            return  # a result for an image that is no longer shown
        self.result = result
        if REGISTRY[result.method].family == "synthesis":
            self.canvas.set_image(result.extras["image"])
        elif self.canvas.image is not self.explainer.display:
            self.canvas.set_image(self.explainer.display)
        if REGISTRY[result.method].family != "synthesis":
            self.canvas.set_map(result.map)
        target = result.target.describe(result.target_label)
        where = f" at {result.layer}" if result.layer else ""
        said = " ".join(f"{key}: {result.info[key]}" for key in ("warning", "note") if key in result.info)
        self.show_message(f"{REGISTRY[result.method].label} for {target}{where} "
                          f"({result.timings['method']:.2f} s)" + (f" — {said}" if said else ""))
        self.explanation_shown.emit(result)

    def compute_metrics(self) -> None:
        if self.result is None or self.explainer is None:
            self.show_message("run a method first")
            return
        bundle, x, attr_map = self.bundle, self.explainer.x, self.result.map
        truth = self._ground_truth()

        def job(progress):
            results = faith.deletion_and_insertion(bundle, x, attr_map, progress=progress)
            results["average_drop"] = faith.average_drop(bundle, x, [attr_map])
            if truth is not None and truth.box is not None:
                results["iou"] = loc.localization(attr_map, truth.box)
                results["energy_in_box"] = loc.energy_in_box(attr_map, truth.box)
                if truth.mask is not None:
                    results["pointing_game"] = loc.pointing_game(attr_map, truth.mask)
            return results, truth

        self._submit("metrics", job, self._show_metrics)

    def _ground_truth(self):
        gt = self.image_path.parent / "ground_truth.json" if self.image_path else None
        if gt is None or not gt.is_file():
            return None
        try:
            return read_annotations(gt).get(self.image_path.name)
        except (OSError, ValueError):
            return None

    def _show_metrics(self, result) -> None:
        self.metric_results, truth = result
        self.metrics.show_results(self.metric_results)
        self.canvas.clear_shapes()
        if truth is not None and truth.box is not None:
            self.canvas.add_box(truth.box, "#00e676", "ground truth")
        if "iou" in self.metric_results and self.metric_results["iou"].details.get("box"):
            self.canvas.add_box(self.metric_results["iou"].details["box"], "#ff9100", "map box")
        if "pointing_game" in self.metric_results:
            self.canvas.add_point(*self.metric_results["pointing_game"].details["point"])
        self.metrics_shown.emit(self.metric_results)

    def run_compare(self) -> None:
        if self.explainer is None:
            return
        names = [self.compare_list.item(i).data(Qt.UserRole) for i in range(self.compare_list.count())
                 if self.compare_list.item(i).checkState() == Qt.Checked]
        explainer, bundle, target, layer = self.explainer, self.bundle, self.target, self.layer

        def job(progress):
            progress.set_total(len(names))
            panels = [("input", explainer.display)]
            for name in names:
                res = explainer.explain(name, target=target, layer=layer if REGISTRY[name].needs_layer else None)
                di = faith.deletion_and_insertion(bundle, explainer.x, res.map)
                panels.append((f"{name} del {di['deletion'].value:.2f} ins {di['insertion'].value:.2f}",
                               overlay(res.image, res.map)))
                progress.step()
            return grid(panels, cols=3, scale=1 if explainer.display.shape[0] > 160 else 2)

        self._submit("compare", job, self._show_compare)

    def _show_compare(self, image) -> None:
        self.compare_image = image
        self.compare_canvas.set_image(image)
        self.show_message("comparison ready")

    def export_overlay(self) -> None:
        if self.result is None:
            self.show_message("nothing to export yet")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export overlay", "overlay.png", "PNG (*.png)")
        if path:
            save_png(path, overlay(self.result.image, self.result.map, self.opacity.value() / 100,
                                   self.cmap.currentText()))
            self.show_message(f"overlay written to {path}")

    def export_compare(self) -> None:
        if getattr(self, "compare_image", None) is None:
            self.show_message("run a comparison first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison grid", "compare.png", "PNG (*.png)")
        if path:
            save_png(path, self.compare_image)
            self.show_message(f"comparison grid written to {path}")

    def export_metrics(self) -> None:
        if not self.metric_results:
            self.show_message("compute metrics first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "metrics.csv", "CSV (*.csv);;JSON (*.json)")
        if path:
            self.write_metrics(Path(path))
            self.show_message(f"metrics written to {path}")

    def write_metrics(self, path: Path) -> None:
        """CSV of metric values, or JSON with the curves too (by file extension)."""
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps({"image": str(self.image_path), "method": self.result.method,
                                        "metrics": [r.to_dict() for r in self.metric_results.values()]},
                                       indent=1, default=str))
        else:
            path.write_text("metric,value\n" + "".join(f"{k},{v}\n" for k, v in self.metrics.values.items()))

    # ----- diagnosis -----
    def _current_target(self) -> int:
        return self.target.index if self.target is not None else self.explainer.prediction[0][0]

    def _toggle_patch(self, on: bool) -> None:
        if on:
            self.canvas.show_patch(self.diagnose.size.value())
        else:
            self.canvas.hide_patch()

    def probe_patch(self, box, final: bool) -> None:
        """Latest request wins: a pending probe is replaced by a newer one, never queued."""
        if self.explainer is None:
            return
        self.occlusion_requests += 1
        explainer, fill, target = self.explainer, self.diagnose.fill.currentText(), self._current_target()
        occluder = self._occluder
        if occluder is None or occluder[0] is not explainer or occluder[1] != fill:
            occluder = None

        def job(progress):
            occ = occluder[2] if occluder else Occluder(explainer.bundle, explainer.x, fill)
            return (explainer, fill, occ), occ.probe(box, target), final

        self._submit("occlude", job, self._show_probe)

    def _show_probe(self, result) -> None:
        self._occluder, probe, final = result
        self.occlusion_results += 1
        self.predictions.set_predictions(probe.top, self._current_target())
        self.diagnose.add_trace(probe.target_probability)
        if final:
            self.show_message(f"patch at {probe.box}: target probability {probe.target_probability:.1%}")
        self.occlusion_probed.emit(probe)

    def _sweep_patch(self) -> None:
        size = self.diagnose.size.value()
        self.methods.select("occlusion")
        params = {**self.methods.params(), "window": size, "stride": max(1, size // 2),
                  "fill": self.diagnose.fill.currentText()}
        self.run_method("occlusion", params)

    def _attack_epsilon(self, args: dict) -> float:
        eps = args["epsilon_255"] / 255
        if args["norm"] == "l2":  # RMS per pixel → whole-image L2 norm
            eps *= float(np.sqrt(self.explainer.x[0].numel()))
        return eps

    def _diagnose_method(self) -> tuple[str, dict | None, str | None]:
        """(method, params, layer) for the attack views: the selected method when it is cheap
        (AUTO_RUN_FAMILIES) with its parameters, else Grad-CAM with its defaults."""
        method = self._cheap_method()
        params = self.methods.params() if method == self.methods.current() else None
        return method, params, self.layer if REGISTRY[method].needs_layer else None

    def run_attack(self, args: dict) -> None:
        if self.explainer is None:
            return
        explainer, target = self.explainer, self._current_target()
        method, params, layer = self._diagnose_method()
        eps = self._attack_epsilon(args)

        def job(progress):
            res = attack(explainer.bundle, explainer.x, eps, args["method"], args["norm"], args["steps"],
                         target=args["target"], progress=progress)
            shown = explain_attack(explainer.bundle, explainer, res, method, ClassTarget(target), layer, params)
            after = shown.adversarial.prediction[0]
            panels = [(f"clean: {explainer.bundle.label(res.before[0])} {res.before[1]:.0%}",
                       overlay(shown.clean.image, shown.clean.map)),
                      (f"attacked: {after[1]} {after[2]:.0%}", overlay(shown.adversarial.image, shown.adversarial.map)),
                      ("perturbation (amplified)", amplified(res.delta))]
            return shown, grid(panels, cols=3, scale=1 if explainer.display.shape[0] > 160 else 2)

        self._submit("attack", job, self._show_attack)

    def _show_attack(self, result) -> None:
        shown, image = result
        res, shift, after = shown.result, shown.shift, shown.adversarial.prediction[0]
        self.diagnose.attack_view.set_image(image)
        self.diagnose.attack_summary.setText(
            f"{'success' if res.success else 'no flip'}: {self.bundle.label(res.before[0])} {res.before[1]:.1%} → "
            f"{after[1]} {after[2]:.1%}; ‖δ‖ = {res.norm * 255:.2f}/255. "
            f"{REGISTRY[shown.method].label} map of the attacked input, shift: Spearman {shift['spearman']:.2f}, "
            f"top-10% overlap {shift['topk_intersection']:.2f}, SSIM {shift['ssim']:.2f}")
        self.attack_shown.emit(shown)

    def run_epsilon_sweep(self, args: dict) -> None:
        if self.explainer is None:
            return
        explainer, target = self.explainer, ClassTarget(self._current_target())
        method, params, layer = self._diagnose_method()
        steps = [0, 1, 2, 4, 8, 16]
        epsilons = [self._attack_epsilon({**args, "epsilon_255": e}) for e in steps]

        def job(progress):
            rows = epsilon_sweep(explainer.bundle, explainer.x, epsilons, map_function(method, target, layer, params),
                                 progress, method=args["method"], norm=args["norm"], steps=args["steps"],
                                 target=args["target"])
            for row, e in zip(rows, steps):
                row["epsilon"] = e / 255
            return rows

        self._submit("epsilon sweep", job, self._show_epsilon_sweep)

    def _show_epsilon_sweep(self, rows: list[dict]) -> None:
        self.diagnose.show_sweep(rows)
        if rows:
            label = REGISTRY[rows[0]["method"]].label if rows[0]["method"] in REGISTRY else rows[0]["method"]
            self.diagnose.sweep_plot.setTitle(f"ε sweep: confidence and {label} map Spearman vs clean")
        self.epsilon_sweep_shown.emit(rows)

    def _cheap_method(self) -> str:
        method = self.methods.current()
        return method if REGISTRY[method].family in AUTO_RUN_FAMILIES else "gradcam"

    def run_scan(self, source: str) -> None:
        if self.bundle is None:
            return
        bundle = self.bundle

        def job(progress):
            return scan(bundle, read_labelled(source, bundle.labels or []), progress=progress)

        self._submit("scan", job, self._show_scan)

    def _show_scan(self, result) -> None:
        self.scan.show_scan(result)
        self.show_message(f"scan: accuracy {result.accuracy:.1%} on {len(result.files)} images")
        self.scan_shown.emit(result)

    def open_mistake(self, file: str, true_class: int, predicted: int) -> None:
        """Counterfactual view: the explanation of the predicted class beside the true class's."""
        bundle, method, layer = self.bundle, self._cheap_method(), self.layer

        def job(progress):
            explainer = Explainer(bundle, load_image(file))
            use_layer = layer if REGISTRY[method].needs_layer else None
            panels = [(Path(file).name, explainer.display)]
            for title, cls in (("predicted", predicted), ("true", true_class)):
                res = explainer.explain(method, target=ClassTarget(cls), layer=use_layer)
                panels.append((f"{title}: {bundle.label(cls)}", overlay(res.image, res.map)))
            return grid(panels, cols=3, scale=1 if explainer.display.shape[0] > 160 else 2)

        self._submit("counterfactual", job, self._show_counterfactual)

    def _show_counterfactual(self, image) -> None:
        self.scan.show_counterfactual(image)
        self.counterfactual_shown.emit(image)

    def run_bias_report(self, folder: str, region: str) -> None:
        if self.bundle is None:
            return
        gt = Path(folder) / "ground_truth.json"
        if not gt.is_file():
            self.show_message(f"bias report needs {gt} (masks and labels)")
            return
        bundle, method, layer = self.bundle, self._cheap_method(), self.layer
        want_tag = region.startswith("top-left")

        def job(progress):
            from core.datasets.shapes import tag_box

            annotations = read_annotations(gt)
            progress.set_total(len(annotations))
            maps, masks, labels = [], [], []
            for name, truth in annotations.items():
                rgb = load_image(Path(folder) / name)
                explainer = Explainer(bundle, rgb)
                res = explainer.explain(method, layer=layer if REGISTRY[method].needs_layer else None)
                maps.append(res.map)
                masks.append(bundle.preprocess.map_mask(truth.mask))
                labels.append(truth.label if truth.label is not None else explainer.prediction[0][0])
                progress.step()
            box = None
            if want_tag:
                x0, y0, x1, y1 = tag_box(maps[0].shape[1])
                box = (x0 - 4, y0 - 4, x1 + 4, y1 + 4)
            return bias_report(maps, masks, labels, box)

        self._submit("bias report", job, self._show_bias)

    def _show_bias(self, report) -> None:
        self.scan.show_bias(report)
        self.show_message(f"bias report: {'flagged' if report.flagged else 'not flagged'}")
        self.bias_shown.emit(report)

    # ----- drag and drop -----
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if path.suffix.lower() in IMAGE_SUFFIXES:
                self.open_image(path)
                return
        self.show_message("drop an image file")
