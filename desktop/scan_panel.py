"""Failure-mode scan and bias report over a labelled folder."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from .canvas import ImageCanvas

REGIONS = {"no region": None, "top-left corner (demo tag)": "tag"}


class ScanPanel(QWidget):
    scan_requested = Signal(str)
    bias_requested = Signal(str, str)
    mistake_opened = Signal(str, int, int)  # file, true class, predicted class

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folder = ""
        choose = QPushButton("Labelled folder or CSV…")
        choose.clicked.connect(self._choose)
        self.path_label = QLabel("ImageFolder layout (one sub-folder per class) or a CSV of file,label")
        self.path_label.setWordWrap(True)
        scan = QPushButton("Scan")
        scan.setObjectName("scan")
        scan.clicked.connect(lambda: self.folder and self.scan_requested.emit(self.folder))
        self.region = QComboBox()
        self.region.addItems(list(REGIONS))
        self.region.setCurrentIndex(1)
        bias = QPushButton("Bias report (needs ground_truth.json)")
        bias.clicked.connect(lambda: self.folder and self.bias_requested.emit(self.folder, self.region.currentText()))
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.confusion = QTableWidget()
        self.mistakes = QTableWidget(0, 4)
        self.mistakes.setObjectName("mistakes")
        self.mistakes.setHorizontalHeaderLabels(["confidence", "file", "true", "predicted"])
        self.mistakes.horizontalHeader().setStretchLastSection(True)
        self.mistakes.cellDoubleClicked.connect(self._open_row)
        self.counterfactual = ImageCanvas()
        self.counterfactual.setMinimumHeight(150)
        row = QHBoxLayout()
        row.addWidget(choose)
        row.addWidget(scan)
        bias_row = QHBoxLayout()
        bias_row.addWidget(self.region)
        bias_row.addWidget(bias)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.path_label)
        layout.addLayout(bias_row)
        layout.addWidget(self.summary)
        layout.addWidget(self.confusion, 1)
        layout.addWidget(QLabel("misclassified, most confident first (double-click: predicted vs true class)"))
        layout.addWidget(self.mistakes, 1)
        layout.addWidget(self.counterfactual, 2)
        self.rows: list[dict] = []

    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Labelled folder")
        if folder:
            self.set_source(folder)

    def set_source(self, path: str) -> None:
        self.folder = str(path)
        self.path_label.setText(self.folder)

    def show_scan(self, result) -> None:
        k = len(result.classes)
        used = sorted(set(result.labels.tolist()) | set(result.predictions.tolist()))
        self.summary.setText(f"{len(result.files)} images, accuracy {result.accuracy:.1%}, "
                             f"{int((result.labels != result.predictions).sum())} mistakes")
        self.confusion.clear()
        self.confusion.setRowCount(len(used))
        self.confusion.setColumnCount(len(used))
        names = [result.classes[i] for i in used] if k else []
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

    def show_counterfactual(self, image) -> None:
        self.counterfactual.set_image(image)

    def show_bias(self, report) -> None:
        flag = "FLAGGED" if report.flagged else "not flagged"
        self.summary.setText(f"bias report: {flag}. {report.reason}; "
                             f"{report.object_share:.1%} of the energy on the objects.")
