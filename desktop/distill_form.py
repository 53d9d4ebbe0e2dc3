"""The Distill workspace's settings: teacher, student, the three loss terms and their weights,
the training length, the seed and the output file. Every control says in words what it does;
the formulas and papers are in the tooltips (Hinton et al. 2015; Chattopadhay et al. 2018 §7)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from . import distill_adapters as da

KD_PAPER = "Hinton, Vinyals & Dean 2015, Distilling the Knowledge in a Neural Network, §2"
INTERP_PAPER = "Chattopadhay et al. 2018, Grad-CAM++, §7 (learning from explanations)"
TERMS = {
    "ce": ("learn the true labels",
           "Cross-entropy with the true class: CE(y, s) = −log softmax(s)_y.\nThe ordinary training loss."),
    "kd": ("copy the teacher's answers",
           "α·T²·KL(softmax(t/T) ‖ softmax(s/T)): the student matches the teacher's softened class "
           f"probabilities.\nt, s: teacher and student logits; T: temperature.\n{KD_PAPER}"),
    "interp": ("copy where the teacher looks",
               "β·‖ĉ_s − ĉ_t‖²: the squared distance between the student's and the teacher's class activation "
               "maps of the same class,\neach upsampled to a common size and divided by its L2 norm.\n"
               f"{INTERP_PAPER}"),
}


def _combo(name: str, tip: str) -> QComboBox:
    box = QComboBox()
    box.setObjectName(name)
    box.setToolTip(tip)
    box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(12)
    return box


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: #666;")
    return label


def _spin(lo: int, hi: int, value: int, tip: str, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def _double(lo: float, hi: float, value: float, tip: str, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setToolTip(tip)
    return box


class DistillForm(QWidget):
    changed = Signal()  # the output file or any setting changed (Resume availability)

    def __init__(self, parent=None):
        super().__init__(parent)
        d = da.defaults()
        intro = _note("Train a small <b>student</b> network to imitate the loaded <b>teacher</b>: its answers, "
                      "and where it looks. Training images are fresh generated shapes (no data needed).")
        who = QGroupBox("Teacher and student")
        self.teacher = _combo("distill_teacher", "the trained network to learn from")
        self.student = _combo("distill_student", "")
        self.student.setEditable(True)
        self.student.addItems(da.presets())
        self.student.setCurrentText(d.student)
        self.student.setToolTip("a ShapesNet of the named size, or type any torchvision classifier name "
                                "(e.g. resnet18; trained from random weights)")
        self.student_note = _note("")
        self.size = _spin(0, 512, 0, "the side of the student's square input in pixels; smaller trains faster")
        self.size.setObjectName("distill_size")
        self.size.setSpecialValueText("same as the teacher")
        form = QFormLayout(who)
        form.addRow("teacher", self.teacher)
        form.addRow("student", self.student)
        form.addRow("", self.student_note)
        form.addRow("input size", self.size)

        losses = QGroupBox("What the student learns")
        column = QVBoxLayout(losses)
        self.terms: dict[str, QCheckBox] = {}
        for name, (words, tip) in TERMS.items():
            box = QCheckBox(words)
            box.setObjectName(f"distill_{name}")
            box.setChecked(name in d.losses)
            box.setToolTip(tip)
            self.terms[name] = box
            column.addWidget(box)
        weights = QFormLayout()
        self.alpha = _double(0, 100, d.alpha, f"α: weight of the knowledge-distillation term.\n{KD_PAPER}")
        self.beta = _double(0, 1000, d.beta, "β: weight of the map term. 10 makes it start about as large as the "
                                             f"distillation term on the demo teacher.\n{INTERP_PAPER}")
        self.temperature = _double(0.1, 50, d.temperature, "T: softens both networks' probabilities before they "
                                                           "are compared (T = 1: unchanged); the term is scaled "
                                                           f"by T² so its gradients keep their size.\n{KD_PAPER}")
        self.map_method = _combo("distill_map_method", "")
        for name in da.map_methods():
            self.map_method.addItem(_map_words(name), name)
        self.map_method.setToolTip("how both maps are made: Grad-CAM++ (Chattopadhay et al. 2018, eq. 19), "
                                   "Grad-CAM (Selvaraju et al. 2017) or CAM (Zhou et al. 2016)")
        weights.addRow("answers weight α", self.alpha)
        weights.addRow("maps weight β", self.beta)
        weights.addRow("temperature T", self.temperature)
        weights.addRow("maps made by", self.map_method)
        column.addLayout(weights)
        column.addWidget(_note("Higher α or β: that part counts more. Tick only the first box for a student "
                               "trained without the teacher (the baseline)."))

        train = QGroupBox("Training")
        self.epochs = _spin(1, 1000, d.epochs, "passes over 'images per epoch' fresh images; the curves get one "
                                               "point per epoch and a checkpoint is saved after each")
        self.epochs.setObjectName("distill_epochs")
        self.images = _spin(1, 1_000_000, d.images_per_epoch, "images per epoch (a fixed number, so runs are "
                                                               "comparable)", step=256)
        self.images.setObjectName("distill_images")
        self.batch = _spin(1, 1024, d.batch_size, "images per optimisation step")
        self.batch.setObjectName("distill_batch")
        self.seed = _spin(0, 2**31 - 1, d.seed, "the same seed gives the same student (start weights and images)")
        self.seed.setObjectName("distill_seed")
        self.eval_images = _spin(1, 100_000, d.eval_images, "fresh images the finished student is measured on "
                                                            "(accuracy, map agreement, pointing game); after every "
                                                            "epoch up to 48 of them give the curves' points")
        self.eval_images.setObjectName("distill_eval_images")
        self.out = QLineEdit(str(da.default_output()))
        self.out.setObjectName("distill_out")
        self.out.setToolTip("the student's weights (.pt); its model card goes to <name>.json and the checkpoint "
                            "to <name>.ckpt beside it")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        form = QFormLayout(train)
        form.addRow("epochs", self.epochs)
        form.addRow("images per epoch", self.images)
        form.addRow("batch size", self.batch)
        form.addRow("seed", self.seed)
        form.addRow("measured on", self.eval_images)
        form.addRow("save as", row)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (intro, who, losses, train):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.student.currentTextChanged.connect(self._student_changed)
        self.out.textChanged.connect(lambda _t: self.changed.emit())
        self._student_changed(self.student.currentText())

    def _student_changed(self, name: str) -> None:
        size = da.preset_size(name)
        self.student_note.setText(f"a ShapesNet, {size}" if size else "a torchvision classifier, random start")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the student as", self.out.text(), "Weights (*.pt)")
        if path:
            self.out.setText(path if path.endswith(".pt") else path + ".pt")

    def set_teachers(self, session_spec: str | None, session_name: str | None) -> None:
        """The session's model first (when one is loaded), then the demo."""
        current = self.teacher.currentData()
        self.teacher.clear()
        if session_spec:
            self.teacher.addItem(f"the loaded model ({session_name})", session_spec)
        if session_spec != "demo":
            self.teacher.addItem("demo (the bundled shapes model)", "demo")
        index = self.teacher.findData(current)
        self.teacher.setCurrentIndex(max(index, 0))

    def output(self) -> str:
        return self.out.text().strip()

    def config_values(self) -> dict:
        """Keyword arguments of ``DistillConfig``."""
        return {"teacher": self.teacher.currentData() or "demo", "student": self.student.currentText().strip(),
                "image_size": self.size.value() or None,
                "losses": tuple(n for n, box in self.terms.items() if box.isChecked()),
                "alpha": self.alpha.value(), "beta": self.beta.value(), "temperature": self.temperature.value(),
                "map_method": self.map_method.currentData(), "epochs": self.epochs.value(),
                "images_per_epoch": self.images.value(), "batch_size": self.batch.value(), "seed": self.seed.value(),
                "eval_images": self.eval_images.value()}

    def show_config(self, config) -> None:
        """Show a checkpoint's settings (what Resume continues)."""
        if self.teacher.findData(config.teacher) < 0:
            self.teacher.addItem(config.teacher, config.teacher)
        self.teacher.setCurrentIndex(self.teacher.findData(config.teacher))
        self.student.setCurrentText(config.student)
        self.size.setValue(config.image_size or 0)
        for name, box in self.terms.items():
            box.setChecked(name in config.losses)
        self.alpha.setValue(config.alpha)
        self.beta.setValue(config.beta)
        self.temperature.setValue(config.temperature)
        self.map_method.setCurrentIndex(max(self.map_method.findData(config.map_method), 0))
        self.epochs.setValue(config.epochs)
        self.images.setValue(config.images_per_epoch)
        self.batch.setValue(config.batch_size)
        self.seed.setValue(config.seed)
        self.eval_images.setValue(config.eval_images)


def _map_words(method: str) -> str:
    """A map method's label from the registry; the paper's own choice (the loss's default) says so."""
    from core.distill.loss import LossConfig

    from . import adapters

    label = adapters.method_spec(method).label
    return f"{label} (as in the paper)" if method == LossConfig().method else label
