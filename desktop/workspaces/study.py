"""Study: human-trust studies of explanations (Selvaraju et al. 2017, Grad-CAM §5.1-5.2;
Chattopadhay et al. 2018, Grad-CAM++ §6). Design a blind, randomised study and prepare its package
in the background lane (``core.study.prepare_package``: every picture rendered in advance); run it
with people in participant mode (``desktop.participant``) or the package's HTML player; analyse
the responses (``core.study.analyze``). What the tables show always belongs to the package and
responses files named above them: changing either clears them until Analyze runs again."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout,
                               QWidget)

from .. import study_adapters as sa
from ..jobs import seconds_text as _seconds
from ..study_analysis import StudyAnalysisView
from ..study_designer import StudyDesigner
from ..widgets import settings_column


class StudyWorkspace(QWidget):
    title = "Study"
    default_split = (0.4, 0.6)  # splitter shares (Reset layout)
    prepared = Signal(object)  # the package's manifest
    analyzed = Signal(object)  # core.study.analyze's result
    participant_opened = Signal(object)  # the ParticipantWindow

    def __init__(self, session, jobs, parent=None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        self.designer = StudyDesigner()
        self.prepare_button = QPushButton("Prepare package")
        self.prepare_button.setObjectName("study_prepare")
        self.prepare_button.setToolTip("render every picture of the study into the package folder, in the "
                                       "background (you can keep working)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("study_cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setObjectName("study_progress")
        self.state = QLabel("")
        self.state.setObjectName("study_state")
        self.state.setWordWrap(True)
        side = settings_column(self.designer, [self.prepare_button, self.cancel_button], self.progress, self.state)
        self.analysis = StudyAnalysisView()
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("study_splitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(side)
        self.splitter.addWidget(self.analysis)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        self._job: int | None = None
        self.result: tuple | None = None  # ((package, files), analysis)
        self.participant = None
        self.prepare_button.clicked.connect(self.prepare)
        self.cancel_button.clicked.connect(lambda: self.jobs.cancel(kind="study package", lane="background"))
        self.analysis.analyze_requested.connect(self.analyze)
        self.analysis.participant_requested.connect(self.open_participant_mode)
        self.analysis.package_changed.connect(lambda _pkg: self.render())
        self.analysis.files_changed.connect(self.render)
        jobs.progressed.connect(self._progressed)
        session.model_changed.connect(self._model_changed)
        self._model_changed()

    def _model_changed(self) -> None:
        m = self.session.model
        self.designer.set_models(m.spec if m else None, m.name if m else None)

    # ----- prepare -----
    def prepare(self) -> None:
        s, out = self.session, self.designer.output()
        if self._job is not None:
            return
        if not out:
            s.notify("warning", "Choose a package folder first.")
            return
        try:
            design = sa.design(**self.designer.design_values())
        except ValueError as exc:
            s.notify("error", f"Study design: {exc}")
            return
        bundle, spec = (s.bundle, s.model.spec) if s.model else (None, None)
        device = s.device

        def done(manifest):
            self._ended()
            self.state.setText(f"prepared {manifest['trials']} trials ({manifest['attention_checks']} attention "
                               f"checks) in {out}; the HTML player is {Path(out) / 'player.html'}")
            self.analysis.set_package(out)
            s.say(f"study package ready: {out}")
            self.prepared.emit(manifest)

        def failed(message):
            self._ended()
            self.state.setText(f"failed: {message}")
            s.notify("error", f"Preparing the study failed: {message}")

        def cancelled():
            self._ended()
            self.state.setText("cancelled; the partial package was removed")

        self._job = self.jobs.submit("study package", lambda progress: sa.prepare(design, out, bundle, spec, device,
                                                                                  progress),
                                     False, lane="background", on_done=done, on_error=failed, on_cancel=cancelled)
        self.progress.setRange(0, 0)
        self.state.setText(f"loading {', '.join(design.models)} and choosing pictures…")
        self.prepare_button.setEnabled(False)
        self.cancel_button.setEnabled(True)

    def _ended(self) -> None:
        self._job = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.prepare_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _progressed(self, job_id: int, _kind: str, done: int, total: int, message: str) -> None:
        if job_id != self._job:
            return
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        left = self.jobs.seconds_left(job_id)
        self.state.setText(f"rendering maps: {message or f'{done} / {total}'}"
                           + (f", about {_seconds(left)} left" if left is not None else ""))

    # ----- analysis -----
    def _selection(self) -> tuple[str, tuple[str, ...]]:
        return self.analysis.package.text().strip(), tuple(self.analysis.files())

    def analyze(self, pkg: str, files: list[str]) -> None:
        s = self.session
        if not pkg or not sa.is_package(pkg):
            s.notify("warning", f"{pkg or 'No folder'} is not a study package (it needs trials.csv and study.json).")
            return
        if not files:
            s.notify("warning", "No responses yet: run participant mode, or add responses files.")
            return
        selection = (pkg, tuple(files))

        def done(result):
            self.result = (selection, result)
            self.render()
            self.analyzed.emit(result)

        self.jobs.submit("study analysis", lambda progress: sa.analyze(pkg, files), on_done=done,
                         on_error=lambda m: s.notify("error", f"Analysis failed: {m}"))

    def render(self) -> None:
        shown = self.result is not None and self.result[0] == self._selection()
        self.analysis.show_result(self.result[1] if shown else None, list(self._selection()[1]))

    # ----- participant mode -----
    def open_participant_mode(self, pkg: str, full_screen: bool = True):
        from ..participant import ParticipantWindow

        if not pkg or not sa.is_package(pkg):
            self.session.notify("warning", f"{pkg or 'No folder'} is not a study package: prepare one first.")
            return None
        try:
            window = ParticipantWindow(pkg)
        except (OSError, ValueError, KeyError) as exc:
            self.session.notify("error", f"The package {pkg} cannot be run: {exc}")
            return None
        window.setAttribute(Qt.WA_DeleteOnClose)
        window.closed.connect(self.analysis.refresh_files)
        self.participant = window
        if full_screen:
            screen = self.screen()
            if screen is not None:  # also where no window manager honours full screen
                window.setGeometry(screen.geometry())
            window.showFullScreen()
        else:
            window.show()
        window.raise_()
        window.activateWindow()
        self.participant_opened.emit(window)
        return window
