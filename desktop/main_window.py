"""The main window: wiring only. A mode bar switches the workspaces; the model browser is a dock
on the left, the log panel one at the bottom; notifications stay above the workspace until
dismissed; the status bar shows the last message and each job lane's progress and Cancel."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDockWidget, QLabel, QMainWindow, QMenu, QScrollArea, QStackedWidget,
                               QToolBar,
                               QVBoxLayout, QWidget)

from . import adapters, layout_state
from .file_actions import FileActions
from .jobs import LANES, JobRunner
from .lane_status import LaneStatus
from .log_setup import setup_logging
from .model_browser import ModelBrowser
from .notifications import LogPanel, NotificationArea
from .qt_compat import immortalize_singletons
from .session import Session
from .workspaces import WORKSPACES, workspace_class



class MainWindow(QMainWindow):
    explanation_shown = Signal(object)  # tests and the self-test wait on these
    message_shown = Signal(str)

    def __init__(self, settings: QSettings | None = None):
        immortalize_singletons()  # PySide6 6.12 on Python 3.11: see desktop.qt_compat
        super().__init__()
        self.setWindowTitle("Saliency Studio")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("SaliencyStudio", "SaliencyStudio")
        self.log_file = setup_logging()
        self.jobs = JobRunner(self)
        self.session = Session(self.jobs, self)
        self.workspaces = {name: workspace_class(name)(self.session, self.jobs) for name in WORKSPACES}
        for name, workspace in self.workspaces.items():
            setattr(self, name, workspace)  # window.explain, window.compare, …
        self.notifications = NotificationArea()
        self.stack = QStackedWidget()
        for workspace in self.workspaces.values():
            self.stack.addWidget(workspace)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.notifications)
        column.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.models = ModelBrowser()
        self.models.setMinimumWidth(230)
        self.log_panel = LogPanel()
        self.log_panel.attach(self.notifications)
        self.model_dock = self._dock("Model and layers", self.models, Qt.LeftDockWidgetArea)
        log_scroll = QScrollArea()  # the log never forces a taller window
        log_scroll.setWidgetResizable(True)
        log_scroll.setWidget(self.log_panel)
        log_scroll.setMinimumHeight(90)
        self.log_dock = self._dock("Log", log_scroll, Qt.BottomDockWidgetArea)
        self._mode_bar()
        self._menus()
        self._status_bar()
        self._wire()
        self.restore_state()

    # ----- layout -----
    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _mode_bar(self) -> None:
        bar = QToolBar("Workspaces")
        bar.setObjectName("mode_bar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonTextOnly)
        bar.setStyleSheet("QToolButton { padding: 4px 14px; font-weight: bold; }"
                          "QToolButton:checked { background: #1a73e8; color: white; border-radius: 3px; }")
        self.mode_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for i, (name, workspace) in enumerate(self.workspaces.items()):
            action = QAction(workspace.title, self, checkable=True)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.setToolTip(f"{workspace.title} workspace (Ctrl+{i + 1})")
            action.triggered.connect(lambda _=False, n=name: self.session.set_workspace(n))
            group.addAction(action)
            bar.addAction(action)
            self.mode_actions[name] = action
        self.mode_actions["explain"].setChecked(True)
        self.addToolBar(Qt.TopToolBarArea, bar)

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda _=False: slot())
        if shortcut:
            action.setShortcut(shortcut)
        return action

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.recent_menu = QMenu("Recent files", self)
        self.files = f = FileActions(self, self.session, self.settings, self.recent_menu)
        self._action(file_menu, "Open image…", f.ask_image, QKeySequence.Open)
        self._action(file_menu, "Open session…", f.ask_session, QKeySequence("Ctrl+Shift+O"))
        self._action(file_menu, "Save session…", f.ask_save_session, QKeySequence.Save)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        self._action(file_menu, "Export overlay PNG…", lambda: f.export_overlay(self.explain.canvas))
        self._action(file_menu, "Export comparison grid PNG…", lambda: f.export_image(
            "Export comparison grid", "compare.png", self.compare.export_image()))
        self._action(file_menu, "Export metrics CSV / JSON…", lambda: f.export_metrics(self.explain.write_metrics))
        file_menu.addSeparator()
        self._action(file_menu, "Quit", self.close, QKeySequence.Quit)
        view = self.menuBar().addMenu("&View")
        for action in self.mode_actions.values():
            view.addAction(action)
        view.addSeparator()
        view.addAction(self.model_dock.toggleViewAction())
        view.addAction(self.log_dock.toggleViewAction())
        self._action(view, "Previous image", lambda: f.step_image(-1), QKeySequence(Qt.Key_Left))
        self._action(view, "Next image", lambda: f.step_image(1), QKeySequence(Qt.Key_Right))
        self._action(view, "Reset layout", self.reset_layout)
        self._action(self.menuBar().addMenu("&Help"), "Where is the log file?",
                     lambda: self.notifications.info(f"Log file: {self.log_file}", persistent=True, log=False))

    def _status_bar(self) -> None:
        self.message = QLabel("ready")
        self.message.setObjectName("status_message")
        self.device = QComboBox()
        self.device.setObjectName("device")
        self.device.addItems(adapters.devices())
        bar = self.statusBar()
        bar.addWidget(self.message, 1)
        self.lanes = {lane: LaneStatus(self.jobs, lane) for lane in LANES}
        for widget in self.lanes.values():
            bar.addPermanentWidget(widget)
        bar.addPermanentWidget(QLabel("device"))
        bar.addPermanentWidget(self.device)

    def _wire(self) -> None:
        s, m = self.session, self.models
        s.notice.connect(self._notice)
        s.workspace_changed.connect(self._show_workspace)
        s.model_changed.connect(self._model_changed)
        s.model_load_failed.connect(self._name_loaded_model)
        m.load_requested.connect(lambda spec, weights, trust: s.load_model(spec, weights, trust))
        m.file_load_requested.connect(lambda path, trust, inputs: s.load_model(path, "DEFAULT", trust, inputs))
        m.layer_selected.connect(s.set_layer)
        s.selection_changed.connect(lambda: m.mark(s.layer or ""))
        self.device.currentTextChanged.connect(self._device_changed)
        self.explain.shown.connect(self.explanation_shown)
        self.jobs.cancelled.connect(self._cancelled)

    # ----- session → chrome -----
    def _name_loaded_model(self, _message: str = "") -> None:
        self.models.populate(wait=False)
        model = self.session.model
        if model is not None:
            self.models.show_loaded(model.name, model.bundle.source, model.random_weights)

    def _cancelled(self, _job_id: int, kind: str) -> None:
        if kind != "explain":  # the Explain workspace says what a cancelled explanation leaves shown
            self.show_message(f"{kind} cancelled")

    def _notice(self, level: str, text: str, details: str) -> None:
        if level == "status":
            self.show_message(text)
            return
        self.notifications.notify(level, text, details)
        self.show_message(text)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setToolTip(text)
        self.message_shown.emit(text)

    def _show_workspace(self, name: str) -> None:
        self.stack.setCurrentWidget(self.workspaces[name])
        self.mode_actions[name].setChecked(True)

    def _model_changed(self) -> None:
        model = self.session.model
        self.models.set_layers(model.table, self.session.layer)
        self.models.show_loaded(model.name, model.bundle.source, model.random_weights)
        self.notifications.dismiss_key("random-weights")
        if model.random_weights:
            self.notifications.warning(f"{model.name} has random weights (weights: none): its predictions and maps "
                                       "are meaningless. Load it with DEFAULT or a weights file to explain a "
                                       "trained model.", key="random-weights")
        for warning in model.bundle.warnings:
            self.notifications.warning(f"{model.name}: {warning}")
        self.show_message(f"{model.name} loaded ({model.bundle.source}); " + (
            f"layer {self.session.layer}" if self.session.layer else "no layer can be targeted: layer methods are "
                                                                      "unavailable")
            + "".join(f"; warning: {w}" for w in model.bundle.warnings))

    def _device_changed(self, device: str) -> None:
        self.session.device = device
        self.session.reload_model()

    # ----- layout -----
    def restore_state(self) -> None:
        layout_state.restore(self)

    def reset_layout(self) -> None:
        layout_state.reset(self)

    def save_state(self) -> None:
        layout_state.save(self)

    def closeEvent(self, event) -> None:
        self.save_state()
        self.jobs.shutdown()
        super().closeEvent(event)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if path.suffix.lower() in adapters.image_suffixes() | {".json"}:
                self.files.open_file(path)
                return
        self.session.notify("info", "Drop an image or a session file.")

