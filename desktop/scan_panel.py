"""Dataset views: a failure-mode scan of a labelled folder (accuracy, confusion, mistakes) and a
bias report (where the explanation energy lies), with the counterfactual view of one mistake."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from .canvas import ImageCanvas
from .widgets import titled

REGIONS = {"no region": None, "top-left corner (demo tag)": "tag"}


def _table(headers: list[str], name: str) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    table.setMinimumHeight(80)
    return table


class ScanPanel(QWidget):
    scan_requested = Signal(str)
    bias_requested = Signal(str, object)  # folder, region (None, "tag" or "x0,y0,x1,y1")
    mistake_opened = Signal(str, int, int)  # file, true class, predicted class

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folder = ""
        choose = QPushButton("Labelled folder or CSV…")
        choose.clicked.connect(self._choose)
        self.path_label = QLabel("Choose an ImageFolder (one sub-folder per class) or a CSV of file,label; "
                                 "the bias report needs a ground_truth.json with object masks.")
        self.path_label.setWordWrap(True)
        self.scan_button = QPushButton("Scan")
        self.scan_button.setObjectName("scan")
        self.scan_button.clicked.connect(self._scan)
        self.region = QComboBox()
        self.region.setEditable(True)
        self.region.addItems(list(REGIONS))
        self.region.setCurrentIndex(1)
        self.region.setToolTip("a region to test: the demo's tag corner, or type x0,y0,x1,y1 in map pixels")
        self.bias_button = QPushButton("Bias report")
        self.bias_button.setObjectName("bias")
        self.bias_button.clicked.connect(self._bias)
        self.summary = QLabel("")
        self.summary.setObjectName("scan_summary")
        self.summary.setWordWrap(True)
        self.bias_summary = QLabel("")
        self.bias_summary.setObjectName("bias_summary")
        self.bias_summary.setWordWrap(True)
        self.confusion = QTableWidget()
        self.confusion.setMinimumHeight(80)
        self.confusion.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.confusion.setEditTriggers(QTableWidget.NoEditTriggers)
        self.mistakes = _table(["confidence", "file", "true", "predicted"], "mistakes")
        self.mistakes.setSelectionBehavior(QTableWidget.SelectRows)
        self.mistakes.cellDoubleClicked.connect(self._open_row)
        self.bias_table = _table(["class", "images", "energy on the object", "energy in the region"], "bias_table")
        self.counterfactual = ImageCanvas()
        self.counterfactual.setMinimumSize(240, 140)
        self.counterfactual_title = QLabel("Double-click a mistake: the map for the predicted class beside the "
                                           "true class's.")
        self.counterfactual_title.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(choose)
        row.addWidget(self.scan_button)
        row.addSpacing(20)
        row.addWidget(QLabel("region"))
        row.addWidget(self.region, 1)
        row.addWidget(self.bias_button)
        left = QSplitter(Qt.Vertical)
        left.addWidget(titled(QLabel("<b>Confusion</b> (rows: true class, columns: predicted)"), self.confusion))
        left.addWidget(titled(QLabel("<b>Mistakes</b>, most confident first"), self.mistakes))
        right = QSplitter(Qt.Vertical)
        right.addWidget(titled(self.counterfactual_title, self.counterfactual))
        right.addWidget(titled(self.bias_summary, self.bias_table))
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("dataset_splitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        for part in (left, right, self.splitter):
            part.setChildrenCollapsible(False)
        self.splitter.setSizes([500, 500])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.path_label)
        layout.addWidget(self.summary)
        layout.addWidget(self.splitter, 1)
        self.rows: list[dict] = []

    def _scan(self) -> None:
        if self.folder:
            self.scan_requested.emit(self.folder)

    def _bias(self) -> None:
        if self.folder:
            self.bias_requested.emit(self.folder, self.region_value())

    def region_value(self):
        text = self.region.currentText().strip()
        return REGIONS[text] if text in REGIONS else text

    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Labelled folder")
        if folder:
            self.set_source(folder)

    def set_source(self, path: str) -> None:
        self.folder = str(path)
        self.path_label.setText(self.folder)

    def show_scan(self, result) -> None:
        if result is None:
            self.summary.setText("")
            self.confusion.clear()
            self.confusion.setRowCount(0)
            self.confusion.setColumnCount(0)
            self.mistakes.setRowCount(0)
            self.rows = []
            return
        used = sorted(set(result.labels.tolist()) | set(result.predictions.tolist()))
        self.summary.setText(f"{len(result.files)} images, accuracy {result.accuracy:.1%}, "
                             f"{int((result.labels != result.predictions).sum())} mistakes")
        self.confusion.clear()
        self.confusion.setRowCount(len(used))
        self.confusion.setColumnCount(len(used))
        names = [result.classes[i] for i in used] if len(result.classes) else [str(i) for i in used]
        self.confusion.setHorizontalHeaderLabels(names)
        self.confusion.setVerticalHeaderLabels(names)
        for r, i in enumerate(used):
            for c, j in enumerate(used):
                item = QTableWidgetItem(str(result.confusion[i, j]))
                item.setTextAlignment(Qt.AlignCenter)
                self.confusion.setItem(r, c, item)
        self.rows = result.misclassified()
        self.mistakes.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            for c, text in enumerate((f"{row['confidence']:.1%}", row["file"], row["label"], row["predicted"])):
                self.mistakes.setItem(r, c, QTableWidgetItem(text))

    def _open_row(self, row: int, _column: int) -> None:
        entry = self.rows[row]
        self.mistake_opened.emit(entry["file"], entry["label_index"], entry["predicted_index"])

    def show_counterfactual(self, image, title: str = "") -> None:
        if image is None:
            self.counterfactual.clear_map()
            return
        self.counterfactual.set_image(image)
        if title:
            self.counterfactual_title.setText(title)

    def show_bias(self, report) -> None:
        if report is None:
            self.bias_summary.setText("")
            self.bias_table.setRowCount(0)
            return
        flag = "FLAGGED" if report.flagged else "not flagged"
        self.bias_summary.setText(f"<b>Bias report: {flag}</b>. {report.reason}; {report.object_share:.1%} of the "
                                  f"energy lies on the objects.")
        rows = sorted(report.per_class.items())
        self.bias_table.setRowCount(len(rows))
        for r, (index, row) in enumerate(rows):
            region = row.get("region_share")
            cells = (str(row.get("label", index)), str(row.get("images", row.get("count", ""))),
                     f"{row.get('object_share', float('nan')):.1%}", "—" if region is None else f"{region:.1%}")
            for c, text in enumerate(cells):
                self.bias_table.setItem(r, c, QTableWidgetItem(text))

