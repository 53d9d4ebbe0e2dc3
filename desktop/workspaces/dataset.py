"""Dataset: diagnose the model on a whole labelled set (the dataset workbench, ``core.workbench``).

On the left, the run: data (a folder, a CSV, a ground_truth.json folder such as the demo
images), methods and metrics from the registries with their cost and a time estimate, then Run —
a background job writing a run store, with progress, time left, Pause, Cancel, and Resume of an
interrupted run; "Open run…" reads an existing store. On the right, the open run: a virtualised
gallery with a map overlay, the sortable and filterable table, cohort chips that filter both, the
SpRAy cluster view (Lapuschkin et al. 2019), and the earlier scan / bias report / counterfactual
tab. Double-clicking an image anywhere opens it in Explain with the run's model and method.

The open run is a file, not a selection: the views show that store (re-read while a run writes
it); clusters and overlay maps are cached per store and method and shown only for the store and
method chosen."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from .. import adapters
from .. import dataset_adapters as data
from ..dataset_jobs import submit_on_copy
from ..dataset_results import ResultsView
from ..dataset_run_panel import RunPanel
from ..dataset_scan import ScanTab

RUN = "dataset run"
REFRESH_S = 1.5  # re-read the store at most this often while a run writes it


class DatasetWorkspace(QWidget):
    title = "Dataset"
    default_split = (0.3, 0.7)  # splitter shares (Reset layout)
    scan_shown = Signal(object)
    bias_shown = Signal(object)
    counterfactual_shown = Signal(object)
    run_shown = Signal(object)  # dataset_adapters.RunView, after every (re)read of the store
    run_finished = Signal(object)  # core.workbench.run.RunSummary
    run_stopped = Signal(str)  # "cancelled" or the error
    clusters_shown = Signal(object)  # core.workbench.spray.SprayResult

    def __init__(self, session, jobs, parent=None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.panel = RunPanel()
        self.results = ResultsView()
        self.scan_tab = ScanTab(session, jobs)
        self.scan = self.scan_tab.panel
        self.results.tabs.addTab(self.scan_tab, "Scan and bias")
        for mine, theirs in ((self.scan_shown, self.scan_tab.scan_shown), (self.bias_shown, self.scan_tab.bias_shown),
                             (self.counterfactual_shown, self.scan_tab.counterfactual_shown)):
            theirs.connect(mine)
        self.panel.setMinimumWidth(300)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("dataset_splitter")
        self.splitter.addWidget(self.panel)
        self.splitter.addWidget(self.results)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([340, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        self.data_path: str | None = None
        self.data_summary = None
        self.store: Path | None = None  # the run store shown (and resumed)
        self.run_job: int | None = None
        self.pause = None
        self._paused_at: float | None = None
        self._paused_s = 0.0
        self._t0: float | None = None
        self._refreshed = 0.0
        self._fill()
        p, r = self.panel, self.results
        p.data_chosen.connect(self.choose_data)
        p.choices_changed.connect(self.update_estimate)
        p.run_requested.connect(self.start_run)
        p.pause_toggled.connect(self.set_paused)
        p.cancel_requested.connect(lambda: self.jobs.cancel(RUN, lane="background"))
        p.resume_requested.connect(self.resume_run)
        p.open_requested.connect(lambda path: self.open_run(Path(path)))
        r.image_activated.connect(self.open_in_explain)
        r.maps_wanted.connect(self._load_maps)
        r.clusters_wanted.connect(self.find_clusters)
        jobs.progressed.connect(self._progressed)
        session.model_changed.connect(self._model_changed)
        session.timing_changed.connect(self.update_estimate)

    # ----- the scan / bias report / counterfactual tab -----
    def run_scan(self, source: str) -> None:
        self.scan_tab.run_scan(source)

    def run_bias_report(self, folder: str, region=None) -> None:
        self.scan_tab.run_bias_report(folder, region)

    def open_mistake(self, file: str, true_class: int, predicted: int) -> None:
        self.scan_tab.open_mistake(file, true_class, predicted)

    # ----- choices -----
    def _fill(self) -> None:
        """The method and metric lists from the registries, costs for the loaded model's input size."""
        p, bundle = self.panel, self.session.bundle
        hw = tuple(bundle.preprocess.crop) if bundle is not None else (224, 224)
        ticked = (p.checked(p.methods), p.checked(p.metrics)) if p.methods.count() else None
        methods = {}
        for name, spec in data.map_methods().items():
            n = data.passes_per_image([name], [], hw)
            methods[name] = (f"{spec.label} · {spec.cost}", f"{spec.description}\n{spec.summary}\n{spec.citation}\n"
                                                            f"cost: {n} network pass{'es' * (n != 1)} per image")
        metrics = {}
        for name, spec in data.metrics().items():
            better = ", ".join(f"{o.arrow} {o.direction} is better" for o in spec.outputs)
            n = spec.cost(hw, spec.resolve({}))
            outputs = "; ".join(o.describe() for o in spec.outputs)
            metrics[name] = (f"{spec.label}  {better}", f"{spec.sentence}\n{outputs}\n{spec.citation}\n"
                                                         f"cost: {n} network pass{'es' * (n != 1)} per image and method")
        p.fill(methods, metrics)
        if ticked is not None:
            p.set_checked(p.methods, ticked[0])
            p.set_checked(p.metrics, ticked[1])
        self.update_estimate()

    def choose_data(self, path: str) -> None:
        path = str(data.demo_folder()) if path == "demo" else path
        bundle = self.session.bundle
        try:
            summary = data.read_data(path, list(bundle.labels or []) if bundle is not None else [])
        except (OSError, ValueError) as exc:
            self.session.notify("warning", f"{path} cannot be used: {exc}")
            return
        self.data_path, self.data_summary = path, summary
        labels = "with true classes" if summary.labelled else "without labels"
        truth = " and boxes" if summary.boxes else ""
        self.panel.data_label.setText(f"<b>{summary.images} images</b> {labels}{truth} ({summary.kind}); "
                                      f"{len(summary.skipped)} skipped<br><small>{path}</small>")
        for name, spec in data.metrics().items():
            self.panel.set_metric_available(name, data.missing_for(spec, summary))
        self.update_estimate()

    def update_estimate(self) -> None:
        s, p = self.session, self.panel
        methods, metrics = p.checked(p.methods), p.checked(p.metrics)
        if not methods:
            p.estimate.setText("Tick at least one method.")
            return
        hw = tuple(s.bundle.preprocess.crop) if s.bundle is not None else (224, 224)
        passes = data.passes_per_image(methods, metrics, hw)
        n = self.data_summary.images if self.data_summary else None
        per = s.seconds_per_pass() if s.model is not None else None
        if n is None:
            p.estimate.setText(f"{passes} network pass{'es' * (passes != 1)} per image.")
        elif per is None:
            p.estimate.setText(f"{n} images × {passes} network pass{'es' * (passes != 1)}.")
        else:
            p.estimate.setText(f"{n} images × {passes} network pass{'es' * (passes != 1)}: "
                               f"{data.format_seconds(n * passes * per)} on {s.device} (estimate).")

    def _model_changed(self) -> None:
        self._fill()
        if self.data_path:
            self.choose_data(self.data_path)  # class names may differ
        self.update_estimate()

    # ----- running -----
    def start_run(self) -> None:
        s, p = self.session, self.panel
        if s.model is None:
            s.notify("warning", "Load a model first: the run explains its predictions.")
            return
        if not self.data_path:
            s.notify("warning", "Choose the images first (Folder…, CSV or JSON…, or Demo images).")
            return
        methods = p.checked(p.methods)
        if not methods:
            s.notify("warning", "Tick at least one method.")
            return
        layer = s.layer if any(s.spec(m).needs_layer for m in methods) else None
        self._submit(data.model_spec(s.model), data.default_store(s.model.name), data=self.data_path,
                     methods=methods, metric_names=p.checked(p.metrics), resume=False, batch_size=p.batch.value(),
                     target=p.target_value(), layer=layer, method_params={m: s.params_for(m) for m in methods})

    def resume_run(self) -> None:
        s = self.session
        if self.store is None:
            return
        try:
            args = data.resume_arguments(self.store)
        except (OSError, ValueError) as exc:
            s.notify("error", f"{self.store.name} cannot be resumed: {exc}")
            return
        spec = args.pop("model_spec")
        if s.model is None or s.model.spec != spec.get("model"):
            s.notify("info", f"Loading {spec.get('model')}, the model of this run, to resume it.")
            s.load_model(*data.load_arguments(spec), then=self.resume_run)
            return
        args["metric_names"] = args.pop("metrics")
        self._submit(data.model_spec(s.model), self.store, **args)

    def _submit(self, spec, store: Path, **kwargs) -> None:
        bundle, self.store = self.session.bundle, Path(store)  # copied in the interactive lane (dataset_jobs)
        self.pause = pause = data.new_pause()
        self._t0, self._paused_s, self._paused_at, self._refreshed = None, 0.0, None, 0.0
        self.panel.set_running(True, resumable=False)
        self.panel.store_label.setText(f"run store: {self.store}")
        self.panel.show_progress(0, 1, "starting…")

        def job(progress, copy):
            return data.run(spec, copy, store=self.store, progress=progress, pause=pause, **kwargs)

        self.run_job = submit_on_copy(self.jobs, bundle, RUN, job, on_done=self._run_done, on_error=self._run_failed,
                                      on_cancel=self._run_cancelled)

    def set_paused(self, on: bool) -> None:
        if self.pause is None:
            return
        if on:
            self.pause.pause()
            self._paused_at = time.perf_counter()
            self.panel.progress_label.setText(self.panel.progress_label.text().split(" —")[0]
                                              + " — pausing after the images being computed are saved")
        else:
            self.pause.resume()
            if self._paused_at is not None:
                self._paused_s += time.perf_counter() - self._paused_at
            self._paused_at = None

    def _progressed(self, job_id: int, _kind: str, done: int, total: int, message: str) -> None:
        if job_id != self.run_job:
            return
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        text = message or f"{done} of {total} images"
        if self._paused_at is not None:
            text += " — paused (Continue or Cancel)"
        elif done > 0:
            active = now - self._t0 - self._paused_s
            left = active / done * (total - done)
            text += f" — {data.format_seconds(left).replace('≈ ', '')} left"
        self.panel.show_progress(done, total, text)
        if done > 0 and now - self._refreshed > REFRESH_S:
            self._refreshed = now
            self.open_run(self.store, quiet=True)

    def _run_ended(self, resumable: bool) -> None:
        self.run_job, self.pause = None, None
        self.panel.set_running(False, resumable=resumable)
        if self.store is not None:
            self.results.forget(self.store)
        if self.store is not None and self.store.is_file():
            self.open_run(self.store, quiet=True)

    def _run_done(self, summary) -> None:
        self.panel.show_progress(1, 1, f"{summary.computed} images computed in {summary.seconds:.0f} s "
                                       f"({summary.images_per_second:.1f} images/s); {summary.images} in the store"
                                       + (f"; {len(summary.skipped)} skipped" if summary.skipped else ""))
        self.session.say(f"dataset run finished: {summary.images} images in {self.store.name}")
        self._run_ended(False)
        self.run_finished.emit(summary)

    def _run_cancelled(self) -> None:
        self.panel.progress_label.setText("cancelled: what was saved stays; Resume continues the run")
        self._run_ended(self.store is not None and self.store.is_file())
        self.run_stopped.emit("cancelled")

    def _run_failed(self, message: str) -> None:
        self.session.notify("error", f"The dataset run failed: {message}")
        self.panel.progress_label.setText(f"failed: {message}")
        self._run_ended(self.store is not None and self.store.is_file())
        self.run_stopped.emit(message)

    # ----- reading a store -----
    def open_run(self, path: Path, quiet: bool = False) -> None:
        """Read the store at ``path`` (without changing it) and show it."""
        path = Path(path)

        def done(view):
            if not quiet or self.store == view.path:
                self.store = view.path
                self.results.show_run(view, running=self.run_job is not None)
                if self.run_job is None:
                    self.panel.set_running(False, resumable=view.interrupted)
                    self.panel.store_label.setText(f"run store: {view.path}")
                self.run_shown.emit(view)

        def failed(message):
            if not quiet:
                self.session.notify("error", f"{path.name} cannot be opened as a run: {message}")

        self.jobs.submit("dataset view", lambda progress: data.read_run(path), on_done=done, on_error=failed)

    def _load_maps(self, method: str) -> None:
        path = self.store
        self.jobs.submit("dataset maps", lambda progress: data.load_maps(path, method),
                         on_done=lambda maps: self.results.set_maps(path, method, maps),
                         on_error=lambda m: self.session.notify("error", f"Reading the {method} maps failed: {m}"))

    def find_clusters(self, method: str) -> None:
        path = self.store
        if path is None:
            return
        self.results.clusters.status.setText(f"clustering the {method} maps…")

        def done(result):
            self.results.show_clusters(path, method, result)
            self.clusters_shown.emit(result)

        self.jobs.submit("clusters", lambda progress: data.clusters(path, method), on_done=done,
                         on_error=lambda m: self.session.notify("error", f"Finding clusters failed: {m}"))

    # ----- to Explain -----
    def open_in_explain(self, row: dict) -> None:
        """The image in Explain with the run's model, method, parameters and layer."""
        s, view = self.session, self.results.view
        if view is None:
            return
        method = self.results.method.currentText() or next(iter(view.methods), adapters.DEFAULT_METHOD)
        stored = view.methods.get(method, {})
        spec = view.model_spec

        def select():
            s.set_method(method, stored.get("params"))
            if stored.get("layer"):
                s.set_layer(stored["layer"])
            s.set_workspace("explain")

        path = Path(row["path"])
        if s.model is not None and s.model.spec == spec.get("model", s.model.spec):
            s.open_image(path, then=select)
        else:
            s.load_model(*data.load_arguments(spec), then=select, image=path)
