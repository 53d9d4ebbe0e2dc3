"""The controls of a dataset run: which data, which methods and metrics (from the registries, each
with its cost), the explained class and batch size, an estimate of the time, and Run / Pause /
Cancel / Resume / Open run…, with the run's progress and time left. Plain widgets: the Dataset
workspace does the work."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGridLayout, QLabel, QListWidget,
                               QListWidgetItem, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from . import adapters

TARGETS = {"the predicted class": "predicted", "the true class (where known)": "label"}
DEFAULT_METHODS = (adapters.DEFAULT_METHOD,)


def _checklist(name: str) -> QListWidget:
    box = QListWidget()
    box.setObjectName(name)
    box.setMinimumHeight(44)
    return box


class RunPanel(QWidget):
    data_chosen = Signal(str)
    choices_changed = Signal()
    run_requested = Signal()
    pause_toggled = Signal(bool)  # True: pause
    cancel_requested = Signal()
    resume_requested = Signal()
    open_requested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data = ""
        folder = QPushButton("Folder…")
        folder.setToolTip("a folder with one sub-folder per class, a folder with a ground_truth.json (classes, "
                          "boxes, masks), or a plain folder of images (no labels)")
        folder.clicked.connect(self._ask_folder)
        table = QPushButton("CSV or JSON…")
        table.setToolTip("a CSV of file,label (optional x0,y0,x1,y1 box and mask columns; paths relative to the "
                         "CSV) or a ground_truth.json")
        table.clicked.connect(self._ask_file)
        demo = QPushButton("Bundled demo images")
        demo.setObjectName("demo_data")
        demo.setToolTip("the bundled demo images with their classes, boxes and masks")
        demo.clicked.connect(lambda: self.data_chosen.emit("demo"))
        self.data_label = QLabel("Choose the images to diagnose the model on.")
        self.data_label.setWordWrap(True)
        self.data_label.setObjectName("data_summary")
        self.methods = _checklist("run_methods")
        self.methods.setToolTip("Each ticked method makes one map per image (its cost in network passes per image)")
        self.metrics = _checklist("run_metrics")
        self.metrics.setToolTip("Each ticked metric scores every method's map of every image (↑ higher / ↓ lower "
                                "is better; cost in network passes per image and method)")
        for box in (self.methods, self.metrics):
            box.itemChanged.connect(lambda _item: self.choices_changed.emit())
        self.target = QComboBox()
        self.target.addItems(list(TARGETS))
        self.target.setToolTip("which class each map explains")
        self.batch = QSpinBox()
        self.batch.setObjectName("batch_size")
        self.batch.setRange(0, 512)
        self.batch.setSpecialValueText("automatic")
        self.batch.setToolTip("images per forward/backward pass and per saved step (automatic: chosen for the "
                              "device); a cancelled run loses at most the step in flight")
        self.estimate = QLabel("")
        self.estimate.setObjectName("run_estimate")
        self.estimate.setWordWrap(True)
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("run_dataset")
        self.run_button.setToolTip("explain and measure every image into a new run store, in the background")
        self.run_button.clicked.connect(self.run_requested)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("pause_dataset")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("stop after the images being computed are saved; press again to continue")
        self.pause_button.toggled.connect(self._pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_dataset")
        self.cancel_button.setToolTip("stop the run; what was saved stays, and Resume continues it later")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("resume_dataset")
        self.resume_button.setToolTip("continue the open run where it stopped (computes only what is missing)")
        self.resume_button.clicked.connect(self.resume_requested)
        self.open_button = QPushButton("Open run…")
        self.open_button.setObjectName("open_run")
        self.open_button.setToolTip("open a run store (.sqlite) to look at it; it is read, not changed")
        self.open_button.clicked.connect(self._ask_store)
        self.progress = QProgressBar()
        self.progress.setObjectName("run_progress")
        self.progress.setTextVisible(True)
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("run_progress_text")
        self.progress_label.setWordWrap(True)
        self.store_label = QLabel("")
        self.store_label.setObjectName("store_label")
        self.store_label.setWordWrap(True)
        self.store_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        source = QGridLayout()
        source.addWidget(folder, 0, 0)
        source.addWidget(table, 0, 1)
        source.addWidget(demo, 1, 0, 1, 2)
        options = QFormLayout()
        options.addRow("explain", self.target)
        options.addRow("images per batch", self.batch)
        buttons = QGridLayout()
        buttons.addWidget(self.run_button, 0, 0)
        buttons.addWidget(self.pause_button, 0, 1)
        buttons.addWidget(self.cancel_button, 0, 2)
        buttons.addWidget(self.resume_button, 1, 0)
        buttons.addWidget(self.open_button, 1, 1, 1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(QLabel("<b>1. Data</b>"))
        layout.addLayout(source)
        layout.addWidget(self.data_label)
        layout.addWidget(QLabel("<b>2. Methods</b> (one map per image)"))
        layout.addWidget(self.methods, 1)
        layout.addWidget(QLabel("<b>3. Metrics</b> (optional)"))
        layout.addWidget(self.metrics, 1)
        layout.addLayout(options)
        layout.addWidget(self.estimate)
        layout.addWidget(QLabel("<b>4. Run</b>"))
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.store_label)
        self.set_running(False, resumable=False)

    # ----- choices -----
    def fill(self, methods: dict, metrics: dict) -> None:
        """Check lists from the registries: ``{name: (text, tooltip)}``."""
        for box, entries, default in ((self.methods, methods, DEFAULT_METHODS), (self.metrics, metrics, ())):
            box.blockSignals(True)
            box.clear()
            for name, (text, tip) in entries.items():
                item = QListWidgetItem(text)
                item.setData(Qt.UserRole, name)
                item.setToolTip(tip)
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Checked if name in default else Qt.Unchecked)
                box.addItem(item)
            box.blockSignals(False)

    def _items(self, box: QListWidget):
        return [box.item(i) for i in range(box.count())]

    def checked(self, box: QListWidget) -> list[str]:
        return [i.data(Qt.UserRole) for i in self._items(box)
                if i.checkState() == Qt.Checked and i.flags() & Qt.ItemIsEnabled]

    def set_checked(self, box: QListWidget, names) -> None:
        box.blockSignals(True)
        for item in self._items(box):
            item.setCheckState(Qt.Checked if item.data(Qt.UserRole) in names else Qt.Unchecked)
        box.blockSignals(False)
        self.choices_changed.emit()

    def set_metric_available(self, name: str, reason: str) -> None:
        """Grey out a metric the data cannot feed (``reason``: why; "" enables it)."""
        for item in self._items(self.metrics):
            if item.data(Qt.UserRole) == name:
                base = item.text().split("  (")[0]
                item.setText(base + (f"  ({reason})" if reason else ""))
                flags = item.flags()
                item.setFlags(flags & ~Qt.ItemIsEnabled if reason else flags | Qt.ItemIsEnabled)

    def target_value(self) -> str:
        return TARGETS[self.target.currentText()]

    # ----- files -----
    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Images to diagnose")
        if folder:
            self.data_chosen.emit(folder)

    def _ask_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Labelled images", "", "CSV or ground truth (*.csv *.json)")
        if path:
            self.data_chosen.emit(path)

    def _ask_store(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a run store", "", "Run store (*.sqlite *.db);;All files (*)")
        if path:
            self.open_requested.emit(path)

    # ----- run state -----
    def _pause(self, on: bool) -> None:
        self.pause_button.setText("Continue" if on else "Pause")
        self.pause_toggled.emit(on)

    def set_running(self, running: bool, resumable: bool) -> None:
        self.run_button.setEnabled(not running)
        self.open_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(resumable and not running)
        if not running and self.pause_button.isChecked():
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
            self.pause_button.blockSignals(False)

    def show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress_label.setText(text)
