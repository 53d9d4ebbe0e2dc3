"""One unit up close: its activation over the image, what in the image drives it (deconvnet,
guided backprop, Grad-CAM with the unit as the target), the image synthesised to excite it, and
the images of a folder or dataset run that excite it most, each cropped to the region behind
its maximum. A view only: it shows numpy arrays and says what it is waiting for."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from .canvas import ImageCanvas
from .units_grid import to_pixmap
from .widgets import titled

CANVAS_MIN = (150, 130)
CROP = 48  # pixels of a top-image crop



class TopImages(QWidget):
    """A 3×3 sheet of crops, each captioned with its activation."""

    def __init__(self, count: int = 9, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(3)
        self.pictures, self.captions = [], []
        for i in range(count):
            cell = QVBoxLayout()
            picture, caption = QLabel(), QLabel("")
            picture.setFixedSize(CROP, CROP)
            picture.setAlignment(Qt.AlignCenter)
            picture.setStyleSheet("background: #e8eaed;")
            caption.setAlignment(Qt.AlignCenter)
            caption.setStyleSheet("font-size: 8pt;")
            cell.addWidget(picture)
            cell.addWidget(caption)
            grid.addLayout(cell, i // 3, i % 3)
            self.pictures.append(picture)
            self.captions.append(caption)
        self.shown: list[dict] = []

    def show_crops(self, crops: list[dict] | None) -> None:
        self.shown = list(crops or [])
        for i, (picture, caption) in enumerate(zip(self.pictures, self.captions)):
            if i < len(self.shown):
                c = self.shown[i]
                crop = c["crop"]
                picture.setPixmap(to_pixmap(crop, CROP) if crop.size else _empty())
                picture.setToolTip(f"{Path(c['file']).name}: activation {c['activation']:.3g} at (y, x) "
                                   f"{tuple(c['position'])}; crop box {tuple(c['box'])} in model pixels")
                caption.setText(f"{c['activation']:.3g}")
            else:
                picture.clear()
                picture.setToolTip("")
                caption.setText("")


def _empty():
    from PySide6.QtGui import QPixmap

    return QPixmap()


class UnitDetail(QWidget):
    method_changed = Signal(str)
    synthesise_requested = Signal()
    synthesis_cancel_requested = Signal()
    steps_changed = Signal(int)
    source_chosen = Signal(str)  # a folder or a run store
    image_folder_requested = Signal()

    def __init__(self, methods: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.header = QLabel("Click a channel in the grid, or a unit in the class list.")
        self.header.setObjectName("unit_header")
        self.header.setWordWrap(True)
        self.activation = _canvas("unit_activation")
        self.activation.setToolTip("This channel's activation map on the current image, stretched to the image "
                                   "(Zeiler & Fergus 2014; Yosinski et al. 2015). Brighter = fires more.")
        self.method = QComboBox()
        self.method.setObjectName("unit_method")
        for name, label in methods:
            self.method.addItem(label, name)
            self.method.setItemData(self.method.count() - 1, _tip(name, label), Qt.ToolTipRole)
        self.method.setToolTip("How to trace this unit back to the pixels: the unit's mean activation is the "
                               "target instead of a class score.")
        self.unit_map = _canvas("unit_map")
        self.unit_note = _note()
        self.synthesis = _canvas("unit_synthesis", colorbar=False)
        self.synthesis.setToolTip("An image made from scratch to make this unit fire as much as possible: "
                                  "activation maximisation with regularisation (Simonyan et al. 2014; "
                                  "Yosinski et al. 2015, §3). Saved on disk, so it is made once per model.")
        self.steps = QSpinBox()
        self.steps.setObjectName("unit_steps")
        self.steps.setRange(1, 10000)
        self.steps.setValue(200)
        self.steps.setToolTip("Gradient-ascent steps: more steps give a clearer picture and take longer.")
        self.synthesise = QPushButton("Synthesise")
        self.synthesise.setObjectName("unit_synthesise")
        self.synthesise.setToolTip("Make the image this unit responds to most (runs in the background; "
                                   "Simonyan et al. 2014; Yosinski et al. 2015).")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("unit_synthesis_cancel")
        self.cancel.setToolTip("Stop making the image (nothing is saved).")
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        self.synthesis_note = _note()
        self.top = TopImages()
        self.top.setToolTip("The images that excite this unit most, each cropped to the region behind its "
                            "maximum, found from the input gradient of that activation (Zeiler & Fergus 2014, "
                            "Fig. 2; Yosinski et al. 2015).")
        self.top_note = _note()
        self.top_note.setObjectName("unit_top_note")
        self.this_folder = QPushButton("Image's folder")
        self.this_folder.setToolTip("Search the folder of the current image for each unit's top 9 images.")
        self.choose_folder = QPushButton("Folder…")
        self.choose_folder.setToolTip("Search a folder of images (and its sub-folders) for each unit's top 9 images.")
        self.choose_store = QPushButton("Dataset run…")
        self.choose_store.setToolTip("Search the images of a dataset run (its run store file) for each unit's "
                                     "top 9 images.")

        self.method.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.method.setMinimumContentsLength(12)
        trace = QWidget()
        trace_column = QVBoxLayout(trace)
        trace_column.setContentsMargins(0, 0, 0, 0)
        trace_column.addWidget(self.method)
        trace_column.addWidget(self.unit_map, 1)
        trace_column.addWidget(self.unit_note)
        synth_row = QHBoxLayout()
        synth_row.addWidget(QLabel("steps"))
        synth_row.addWidget(self.steps)
        synth_row.addWidget(self.synthesise)
        synth_row.addWidget(self.cancel)
        synth = QWidget()
        synth_column = QVBoxLayout(synth)
        synth_column.setContentsMargins(0, 0, 0, 0)
        synth_column.addWidget(self.synthesis, 1)
        synth_column.addLayout(synth_row)
        synth_column.addWidget(self.progress)
        synth_column.addWidget(self.synthesis_note)
        sources = QVBoxLayout()
        sources.addWidget(QLabel("Search:"))
        for button in (self.this_folder, self.choose_folder, self.choose_store):
            sources.addWidget(button)
        sources.addStretch(1)
        sheet_row = QHBoxLayout()
        sheet_row.addWidget(self.top)
        sheet_row.addLayout(sources)
        tops = QWidget()
        top_column = QVBoxLayout(tops)
        top_column.setContentsMargins(0, 0, 0, 0)
        top_column.addLayout(sheet_row)
        top_column.addWidget(self.top_note)
        top_column.addStretch(1)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(titled(QLabel("<b>Its activation</b> on this image"), self.activation), 0, 0)
        grid.addWidget(titled(QLabel("<b>What drives it</b> in this image"), trace), 0, 1)
        grid.addWidget(titled(QLabel("<b>Image made to excite it</b>"), synth), 1, 0)
        grid.addWidget(titled(QLabel("<b>Top images</b> (number: activation, higher fires more)"), tops), 1, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addLayout(grid, 1)
        self.set_synthesis_running(False)

        self.method.currentIndexChanged.connect(lambda _i: self.method_changed.emit(self.method.currentData()))
        self.synthesise.clicked.connect(self.synthesise_requested)
        self.cancel.clicked.connect(self.synthesis_cancel_requested)
        self.steps.valueChanged.connect(self.steps_changed)
        self.this_folder.clicked.connect(self.image_folder_requested)
        self.choose_folder.clicked.connect(self._ask_folder)
        self.choose_store.clicked.connect(self._ask_store)

    def current_method(self) -> str:
        return self.method.currentData()

    def set_synthesis_running(self, running: bool, done: int = 0, total: int = 0) -> None:
        self.synthesise.setEnabled(not running)
        self.cancel.setVisible(running)
        self.progress.setVisible(running)
        self.progress.setMaximum(max(total, 1) if total else 0)
        self.progress.setValue(done)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to search for top images")
        if folder:
            self.source_chosen.emit(folder)

    def _ask_store(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Dataset run store", "",
                                              "Run stores (*.sqlite *.sqlite3 *.db);;All files (*)")
        if path:
            self.source_chosen.emit(path)


class _Canvas(ImageCanvas):
    """An ImageCanvas that asks for little, so the panel's stretch factors share the space."""

    def sizeHint(self):  # noqa: N802 - Qt API
        return QSize(*CANVAS_MIN)


def _canvas(name: str, colorbar: bool = True) -> ImageCanvas:
    canvas = _Canvas(colorbar=colorbar)
    canvas.setObjectName(name)
    canvas.setMinimumSize(*CANVAS_MIN)
    return canvas


def _note() -> QLabel:
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet("color: #888;")
    return label


def show_image(canvas, image) -> None:
    """Put ``image`` on ``canvas`` (None: an empty canvas) unless it is already there."""
    if canvas.image is image:
        return
    if image is None:
        canvas.clear_map()
        canvas.image_item.clear()
        canvas.image = None
    else:
        canvas.set_image(image)


def _tip(name: str, label: str) -> str:
    """A unit map's tooltip from the method registry: what it shows and its paper."""
    from . import adapters

    spec = adapters.method_spec(name)
    return f"{label} ({spec.citation}), with the unit as the target: {getattr(spec, 'description', spec.summary)}"
