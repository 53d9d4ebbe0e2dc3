"""The study designer's form: images, conditions (methods and/or models), protocol, trials per
condition, seed, attention checks, practice trials and the package folder. Each control says in
words what it does; the papers are in the tooltips (Selvaraju et al. 2017, Grad-CAM §5.1-5.2;
Chattopadhay et al. 2018, Grad-CAM++ §6)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from . import adapters
from . import study_adapters as sa
from .widgets import checked_names, set_checked_names

IMAGE_SOURCES = {"demo-pairs": "demo: two shapes per picture (for discrimination)",
                 "demo-shapes": "demo: one shape per picture (for preference)"}
FOLDER = "folder"
PROTOCOL_WORDS = {
    "discrimination": ("Which class does the map point at? Each trial shows one map made for one of two things "
                       "in the picture; the participant picks which. Higher accuracy: the map tells the classes "
                       "apart better. (Selvaraju et al. 2017, Grad-CAM §5.1)"),
    "preference": ("Which map seems more reasonable? Two conditions' maps of the same picture side by side, "
                   "sides shuffled and unnamed; the participant answers on a 5-point scale from 'left much more "
                   "reasonable' to 'right much more reasonable'. (Selvaraju et al. 2017 §5.2; Chattopadhay "
                   "et al. 2018 §6)"),
}
DEMO_MODELS = ("demo", "demo-biased")


def _note(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #666;")
    return label


def _spin(lo: int, hi: int, value: int, tip: str, name: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setToolTip(tip)
    box.setObjectName(name)
    return box


def _checklist(name: str) -> QListWidget:
    box = QListWidget()
    box.setObjectName(name)
    box.setMinimumHeight(90)
    return box


def default_methods() -> tuple[str, ...]:
    """Two conditions to start from: the app's default method and the first instant method of
    another family (from the registry)."""
    specs = adapters.methods()
    first = specs[adapters.DEFAULT_METHOD]
    other = next(n for n, s in specs.items() if s.family != first.family and adapters.is_instant(s)
                 and adapters.makes_map(s))
    return adapters.DEFAULT_METHOD, other


class StudyDesigner(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        intro = _note("Design a blind, randomised study in which people judge maps. <b>Prepare</b> renders every "
                      "picture in advance into a package folder, so participants need no model.")
        pictures = QGroupBox("Pictures")
        self.images = QComboBox()
        self.images.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.images.setMinimumContentsLength(12)
        self.images.setObjectName("study_images")
        for key in sa.demo_sources():
            self.images.addItem(IMAGE_SOURCES.get(key, key), key)
        self.images.addItem("a folder of images…", FOLDER)
        self.images.setToolTip("a single object gives a discrimination question away: use pictures with two "
                               "things in them (the demo pairs) for discrimination")
        self.folder = ""
        self.folder_label = _note("")
        form = QFormLayout(pictures)
        form.addRow("pictures", self.images)
        form.addRow("", self.folder_label)

        conditions = QGroupBox("Conditions (what is compared)")
        self.methods = _checklist("study_methods")
        for name, spec in adapters.methods().items():
            if adapters.makes_map(spec):
                item = QListWidgetItem(spec.label)
                item.setData(Qt.UserRole, name)
                item.setToolTip(getattr(spec, "description", spec.summary))
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Unchecked)
                self.methods.addItem(item)
        set_checked_names(self.methods, default_methods())
        self.models = _checklist("study_models")
        column = QVBoxLayout(conditions)
        column.addWidget(_note("Each ticked method is one condition. Tick two or more models and one method to "
                               "compare models instead; both ticked: every model × method pair."))
        column.addWidget(QLabel("methods"))
        column.addWidget(self.methods, 2)
        column.addWidget(QLabel("models"))
        column.addWidget(self.models, 1)

        protocol = QGroupBox("Question asked")
        self.protocol = QComboBox()
        self.protocol.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.protocol.setMinimumContentsLength(12)
        self.protocol.setObjectName("study_protocol")
        for name in sa.protocols():
            self.protocol.addItem(name, name)
            self.protocol.setItemData(self.protocol.count() - 1, PROTOCOL_WORDS.get(name, ""), Qt.ToolTipRole)
        self.protocol_note = _note()
        self.trials = _spin(1, 10_000, 10, "trials per condition (discrimination) or per pair of conditions "
                                           "(preference); more trials: narrower confidence intervals", "study_trials")
        self.seed = _spin(0, 2**31 - 1, 0, "the same seed gives the same pictures, order and sides", "study_seed")
        self.attention = _spin(0, 1000, 2, "trials with an obvious answer, spread through the session; a participant "
                                           "who fails one is left out of the figures (and reported)", "study_attention")
        self.practice = _spin(0, 100, 2, "practice trials before the study, with feedback for discrimination; "
                                         "they are not recorded", "study_practice")
        form = QFormLayout(protocol)
        form.addRow("protocol", self.protocol)
        form.addRow("", self.protocol_note)
        form.addRow("trials per condition", self.trials)
        form.addRow("random seed", self.seed)
        form.addRow("attention checks", self.attention)
        form.addRow("practice trials", self.practice)

        self.out = QLineEdit(str(sa.default_folder() / "study"))
        self.out.setObjectName("study_out")
        self.out.setToolTip("the package folder to create (new or empty)")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse_out)
        row = QHBoxLayout()
        row.addWidget(QLabel("package folder"))
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (intro, pictures, conditions, protocol):
            layout.addWidget(widget)
        layout.addLayout(row)
        self.protocol.currentIndexChanged.connect(self._protocol_changed)
        self.images.activated.connect(self._images_chosen)
        self._protocol_changed()

    def _protocol_changed(self) -> None:
        self.protocol_note.setText(PROTOCOL_WORDS.get(self.protocol.currentData(), ""))

    def _images_chosen(self) -> None:
        if self.images.currentData() == FOLDER:
            folder = QFileDialog.getExistingDirectory(self, "Folder of images")
            if folder:
                self.set_folder(folder)

    def set_folder(self, folder: str) -> None:
        self.folder = str(folder)
        self.images.setCurrentIndex(self.images.findData(FOLDER))
        self.folder_label.setText(self.folder)

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Package folder (new or empty)")
        if folder:
            self.out.setText(folder)

    def set_models(self, session_spec: str | None, session_name: str | None) -> None:
        """The session's model (ticked) and the demo models."""
        ticked = set(checked_names(self.models)) or {session_spec or "demo"}
        self.models.clear()
        entries = ([(session_spec, f"the loaded model ({session_name})")] if session_spec else [])
        entries += [(m, m) for m in DEMO_MODELS if m != session_spec]
        for spec, text in entries:
            item = QListWidgetItem(text)
            item.setData(Qt.UserRole, spec)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(Qt.Checked if spec in ticked else Qt.Unchecked)
            self.models.addItem(item)

    def select(self, methods=None, models=None) -> None:
        if methods is not None:
            set_checked_names(self.methods, methods)
        if models is not None:
            set_checked_names(self.models, models)

    def output(self) -> str:
        return self.out.text().strip()

    def design_values(self) -> dict:
        """Keyword arguments of ``core.study.StudyDesign``."""
        source = self.images.currentData()
        images = [self.folder] if source == FOLDER else [source]
        return {"protocol": self.protocol.currentData(), "models": checked_names(self.models),
                "methods": checked_names(self.methods), "images": [i for i in images if i], "trials": self.trials.value(),
                "seed": self.seed.value(), "attention": self.attention.value(), "practice": self.practice.value()}
