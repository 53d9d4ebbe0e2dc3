"""Distill: train a student network from a teacher with the usual labels, the teacher's softened
answers (Hinton et al. 2015) and an interpretability loss that pulls the student's class
activation maps toward the teacher's (Chattopadhay et al. 2018, Grad-CAM++ §7).

Training runs in the background lane (progress, time left, Cancel: a checkpoint is saved, and
Resume continues it); one point per epoch on live curves of each loss term, the accuracy and the
map agreement with the teacher. When it ends, the teacher's and the student's maps of the current
image (the selected method) stand side by side, a session result keyed by the selection; one
button makes the student the session's model."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from .. import adapters
from .. import distill_adapters as da
from ..jobs import seconds_text as _seconds
from ..canvas import ImageCanvas
from ..distill_form import DistillForm
from ..widgets import settings_column, titled

LOSS_PENS = {"total": "#212121", "ce": "#1565c0", "kd": "#ef6c00", "interp": "#2e7d32"}
LOSS_NAMES = {"total": "total (weighted sum)", "ce": "labels (CE)", "kd": "teacher's answers (KD)",
              "interp": "maps (interpretability)"}
QUALITY = {"train_accuracy": ("accuracy, training", "#90caf9"),
           "monitor_accuracy": ("accuracy, held out", "#1565c0"),
           "monitor_cam_pearson": ("maps vs teacher (r)", "#2e7d32")}


def _plot(left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setBackground("w")
    plot.setMinimumSize(220, 150)
    plot.setLabel("left", left)
    plot.setLabel("bottom", "epoch")
    plot.addLegend(offset=(-5, 5), labelTextSize="8pt", brush=(255, 255, 255, 210))  # short names: fits 1280×720
    return plot


class DistillWorkspace(QWidget):
    title = "Distill"
    default_split = (0.34, 0.66)  # splitter shares (Reset layout)
    epoch_shown = Signal(dict)  # one epoch's figures, as drawn
    run_finished = Signal(object)  # core.distill.run.run's result
    run_cancelled = Signal()
    maps_shown = Signal(object)
    _epoch_from_worker = Signal(dict)  # emitted on the worker thread, delivered on the GUI thread

    def __init__(self, session, jobs, parent=None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.form = DistillForm()
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("distill_start")
        self.start_button.setToolTip("train a new student with these settings (replaces the file and its checkpoint)")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("distill_resume")
        self.resume_button.setToolTip("continue the run saved in the checkpoint beside the output file, "
                                      "with the settings it was started with")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("distill_cancel")
        self.cancel_button.setToolTip("stop now; the student so far is saved in a checkpoint that Resume continues")
        self.progress = QProgressBar()
        self.progress.setObjectName("distill_progress")
        self.state = QLabel("")
        self.state.setObjectName("distill_state")
        self.state.setWordWrap(True)
        side = settings_column(self.form, [self.start_button, self.resume_button, self.cancel_button],
                               self.progress, self.state)

        self.loss_plot = _plot("loss (lower is better)")
        self.quality_plot = _plot("higher is better")
        self.quality_plot.setYRange(0, 1)
        self.quality_plot.setToolTip("accuracy, training: share of the training images the student gets right; "
                                     "accuracy, held out: the same on images it never trained on; maps vs teacher "
                                     "(r): Pearson correlation of the student's and the teacher's class maps "
                                     "(1 = the same map). Higher is better for all three.")
        self.curves = {k: self.loss_plot.plot(pen=pg.mkPen(c, width=2), symbol="o", symbolSize=5, symbolBrush=c,
                                              name=LOSS_NAMES[k]) for k, c in LOSS_PENS.items()}
        self.curves.update({k: self.quality_plot.plot(pen=pg.mkPen(c, width=2), symbol="o", symbolSize=5,
                                                      symbolBrush=c, name=name) for k, (name, c) in QUALITY.items()})
        plots = QSplitter(Qt.Horizontal)
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.quality_plot)
        self.summary = QLabel("Press Start: curves appear after the first epoch.")
        self.summary.setObjectName("distill_summary")
        self.summary.setWordWrap(True)
        self.canvases = {who: ImageCanvas() for who in ("teacher", "student")}
        self.captions = {who: QLabel(f"<b>{who}</b>") for who in self.canvases}
        pair = QSplitter(Qt.Horizontal)
        for who, canvas in self.canvases.items():
            canvas.setObjectName(f"distill_{who}_canvas")
            canvas.setMinimumSize(200, 170)
            self.captions[who].setWordWrap(True)
            pair.addWidget(titled(self.captions[who], canvas))
        self.maps_button = QPushButton("Show both maps on the current image")
        self.maps_button.setObjectName("distill_maps")
        self.maps_button.setToolTip("the selected method (Explain) on the teacher and on the student, same class")
        self.use_button = QPushButton("Use the student as the model")
        self.use_button.setObjectName("distill_use")
        self.use_button.setToolTip("load the saved student in every workspace (its model card gives its input "
                                   "size and labels)")
        row = QHBoxLayout()
        row.addWidget(self.maps_button)
        row.addWidget(self.use_button)
        row.addStretch(1)
        result = QWidget()
        rcol = QVBoxLayout(result)
        rcol.setContentsMargins(0, 0, 0, 0)
        rcol.addWidget(self.summary)
        rcol.addLayout(row)
        rcol.addWidget(pair, 1)
        right = QSplitter(Qt.Vertical)
        right.addWidget(plots)
        right.addWidget(result)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("distill_splitter")
        self.splitter.addWidget(side)
        self.splitter.addWidget(right)
        for part in (plots, pair, right, self.splitter):
            part.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)

        self.history: list[dict] = []
        self.student_path: Path | None = None
        self.teacher_spec: str | None = None
        self._job: int | None = None
        self.start_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.cancel_button.clicked.connect(self.cancel)
        self.maps_button.clicked.connect(self.show_maps)
        self.use_button.clicked.connect(self.use_student)
        self.form.changed.connect(self._update_buttons)
        self._epoch_from_worker.connect(self._add_epoch)
        jobs.progressed.connect(self._progressed)
        session.model_changed.connect(self._model_changed)
        for signal in (session.image_changed, session.selection_changed):
            signal.connect(self.render_maps)
        session.results_changed.connect(lambda kind: self.render_maps() if kind == "distill_maps" else None)
        self._model_changed()

    # ----- state -----
    def _model_changed(self) -> None:
        m = self.session.model
        self.form.set_teachers(m.spec if m else None, m.name if m else None)
        self.render_maps()

    def _update_buttons(self) -> None:
        running = self._job is not None
        out = self.form.output()
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running and bool(out) and da.checkpoint_of(out).is_file())
        self.cancel_button.setEnabled(running)
        self.maps_button.setEnabled(self.student_path is not None and not running)
        self.use_button.setEnabled(self.student_path is not None and not running)

    def showEvent(self, event) -> None:
        self._update_buttons()
        super().showEvent(event)

    # ----- training -----
    def start(self, resume: bool = False) -> None:
        s, out = self.session, self.form.output()
        if self._job is not None:
            return
        if not out:
            s.notify("warning", "Choose where to save the student first.")
            return
        config = None
        try:
            if resume:
                saved = da.saved_run(out)
                if saved is None:
                    s.notify("warning", f"There is no checkpoint at {da.checkpoint_of(out)} to resume.")
                    return
                config, position = saved
                self.form.show_config(config)
                history = position["history"]
            else:
                config = da.make_config(**self.form.config_values())
                history = []
        except ValueError as exc:
            s.notify("error", f"Distillation settings: {exc}")
            return
        self.history = []
        for curve in self.curves.values():
            curve.setData([], [])
        for entry in history:
            self._add_epoch(entry)
        self.teacher_spec = config.teacher
        bundle, spec = (s.bundle, s.model.spec) if s.model else (None, None)
        device = s.device

        def job(progress):
            return da.train(config, out, resume, bundle, spec, device, progress, self._epoch_from_worker.emit)

        self._job = self.jobs.submit("distill", job, False, lane="background", on_done=self._done,
                                     on_error=self._failed, on_cancel=self._cancelled)
        self.progress.setRange(0, 0)
        self.state.setText(("resuming" if resume else "starting") + f" ({config.epochs} epochs of "
                           f"{config.images_per_epoch} images)…")
        self._update_buttons()

    def cancel(self) -> None:
        if self._job is not None:
            self.jobs.cancel(kind="distill", lane="background")

    def _progressed(self, job_id: int, _kind: str, done: int, total: int, message: str) -> None:
        if job_id != self._job:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        left = self.jobs.seconds_left(job_id)
        self.state.setText(f"step {done} / {total}" + (f", about {_seconds(left)} left" if left is not None else "")
                           + (f" — {message}" if message else ""))

    def _add_epoch(self, entry: dict) -> None:
        self.history.append(dict(entry))
        epochs = [h["epoch"] for h in self.history]
        for key, curve in self.curves.items():
            points = [(e, h[key]) for e, h in zip(epochs, self.history) if key in h]
            curve.setData([p[0] for p in points], [p[1] for p in points])
        self.epoch_shown.emit(dict(entry))

    def _finish(self) -> None:
        self._job = None
        self.progress.setRange(0, 1)
        self._update_buttons()

    def _done(self, result: dict) -> None:
        self._finish()
        self.progress.setValue(1)
        self.student_path = Path(result["weights"])
        ev = result["evaluation"]
        text = (f"<b>Saved {self.student_path.name}</b>. On {ev['images']} fresh images the student is right "
                f"{ev['accuracy']:.1%} of the time (the teacher {ev['teacher_accuracy']:.1%}; higher is better). "
                f"Its maps agree with the teacher's at Pearson {ev['cam_pearson']:.2f} (1 = the same map; "
                "higher is better)")
        if "pointing_game_student" in ev:
            text += (f"; its map's peak lands on the object {ev['pointing_game_student']:.1%} of the time "
                     f"(teacher {ev['pointing_game_teacher']:.1%}; higher is better)")
        self.summary.setText(text + ".")
        self.state.setText(f"done: {len(result['history'])} epochs; card {Path(result['card']).name}")
        self.session.say(f"distillation finished: {self.student_path}")
        self._update_buttons()
        self.run_finished.emit(result)
        self.show_maps()

    def _failed(self, message: str) -> None:
        self._finish()
        self.state.setText(f"failed: {message}")
        self.session.notify("error", f"Distillation failed: {message}")

    def _cancelled(self) -> None:
        self._finish()
        saved = da.saved_run(self.form.output())
        where = (f"epoch {saved[1]['epoch'] + 1}, step {saved[1]['step']}" if saved else "the start")
        self.state.setText(f"cancelled at {where}; the checkpoint is saved: Resume continues from there.")
        self.run_cancelled.emit()

    # ----- teacher and student side by side -----
    def _method(self) -> str:
        return adapters.map_method(self.session)

    def show_maps(self) -> None:
        s = self.session
        if self.student_path is None or s.explainer is None or s.image_path is None:
            self.render_maps()
            return
        method = self._method()
        key = s.key("distill_maps", method=method)
        student, teacher_spec = self.student_path, self.teacher_spec or "demo"
        bundle, spec = (s.bundle, s.model.spec) if s.model else (None, None)
        image, params, device = s.image_path, s.params_for(method), s.device

        def done(result):
            s.put(key, (str(student), result))

        self.jobs.submit("distill maps", lambda progress: da.teacher_and_student(
            teacher_spec, bundle, spec, student, image, method, params, key.target, key.layer, device),
            on_done=done, on_error=lambda m: s.notify("error", f"Teacher and student maps failed: {m}"))

    def render_maps(self) -> None:
        s = self.session
        stored = s.result("distill_maps", method=self._method()) if self.student_path else None
        if stored is None or stored[0] != str(self.student_path):
            for who, canvas in self.canvases.items():
                canvas.clear_map("press 'Show both maps' for this image and method" if self.student_path else
                                 "train a student first")
                self.captions[who].setText(f"<b>{who}</b>")
            return
        result = stored[1]
        label = s.spec(self._method()).label
        for who, canvas in self.canvases.items():
            r = result[who]
            canvas.set_image(r["display"])
            canvas.set_map(r["map"])
            p = "" if r["probability"] is None else f" {r['probability']:.1%}"
            self.captions[who].setText(f"<b>{who}</b>: {label} of “{r['label']}”{p}; predicts {r['predicted']}"
                                       + (f" (layer {r['layer']})" if r["layer"] else ""))
        self.maps_shown.emit(result)

    def use_student(self) -> None:
        if self.student_path is not None:
            self.session.load_model(str(self.student_path))
