"""The study analysis view: a package, its responses files, and the figures of
``core.study.analyze`` as tables — accuracy per condition with its Wilson 95% interval and the
exact binomial p-value against chance (Wilson 1927), preference per pair with a t-interval and the
sign-test p-value, and each participant's answers and attention failures. Every number says which
way is better."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from . import study_adapters as sa
from .widgets import titled

DISCRIMINATION = [("condition", "the method (or model) that made the maps"),
                  ("answers", "answers counted (participants who failed attention checks are left out)"),
                  ("accuracy ↑", "share of right answers: higher is better; 50% is guessing"),
                  ("95% interval", "Wilson score interval of the accuracy (Wilson 1927)"),
                  ("p vs guessing ↓", "exact two-sided binomial test against 50%: lower is stronger evidence "
                                      "that people can tell the classes apart")]
PREFERENCE = [("A", "first condition of the pair (alphabetical)"), ("B", "second condition of the pair"),
              ("answers", "answers counted, ties (about the same) included"),
              ("preference for A", "mean on −2…+2: above 0 A's maps seemed more reasonable, below 0 B's"),
              ("95% interval", "Student-t interval of the mean"),
              ("p, sign test ↓", "two-sided sign test, ties left out: lower is stronger evidence of a preference")]
PARTICIPANTS = [("participant", "the ID entered"), ("answered", "trials answered of the study's trials"),
                ("attention failures ↓", "attention checks answered wrongly: fewer is better"),
                ("in the figures", "participants who failed an attention check are left out")]
NOTES = {"discrimination": "Accuracy: higher is better, 50% is guessing. p: lower is stronger evidence.",
         "preference": "Above 0: A preferred; below 0: B preferred. p: lower is stronger evidence.",
         "participants": ""}


def _table(headers: list[tuple[str, str]], name: str) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    for c, (text, tip) in enumerate(headers):
        item = QTableWidgetItem(text)
        item.setToolTip(tip)
        table.setHorizontalHeaderItem(c, item)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
    table.horizontalHeader().setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)
    table.horizontalHeader().setMinimumSectionSize(60)
    table.setWordWrap(True)
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    table.setMinimumHeight(90)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(text))


def _pct(v) -> str:
    return "—" if v is None else f"{v:.1%}"


def _p(v) -> str:
    return "—" if v is None else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def _interval(ci, fmt) -> str:
    return "—" if ci[0] is None else f"{fmt(ci[0])} – {fmt(ci[1])}"


class StudyAnalysisView(QWidget):
    analyze_requested = Signal(str, list)  # package, responses files
    participant_requested = Signal(str)  # package
    package_changed = Signal(str)
    files_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.package = QLineEdit()
        self.package.setObjectName("study_package")
        self.package.setPlaceholderText("a study package folder")
        self.package.setToolTip("a folder made by Prepare (trials.csv, study.json, pictures)")
        browse = QPushButton("…")
        browse.setMaximumWidth(30)
        browse.clicked.connect(self._browse)
        self.participant_button = QPushButton("Start participant mode")
        self.participant_button.setObjectName("study_participant")
        self.participant_button.setToolTip("full-window: a participant enters an ID and answers with the keyboard; "
                                           "answers go to <package>/responses/<ID>.csv as they are given")
        row = QHBoxLayout()
        row.addWidget(QLabel("package"))
        row.addWidget(self.package, 1)
        row.addWidget(browse)
        row.addWidget(self.participant_button)
        self.responses = QListWidget()
        self.responses.setObjectName("study_responses")
        self.responses.setMaximumHeight(90)
        self.responses.setToolTip("responses files (participant,trial,choice,rt_ms): those in <package>/responses "
                                  "and any added, e.g. downloaded from the HTML player")
        add = QPushButton("Add responses…")
        add.clicked.connect(self._add)
        clear = QPushButton("Clear")
        clear.clicked.connect(self._clear)
        self.analyze_button = QPushButton("Analyze")
        self.analyze_button.setObjectName("study_analyze")
        self.analyze_button.setToolTip("accuracy or preference per condition with 95% intervals and p-values")
        buttons = QVBoxLayout()
        for button in (add, clear, self.analyze_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        files = QHBoxLayout()
        files.addWidget(self.responses, 1)
        files.addLayout(buttons)
        self.summary = QLabel("Choose a package, then Analyze its responses.")
        self.summary.setObjectName("study_summary")
        self.summary.setWordWrap(True)
        self.discrimination = _table(DISCRIMINATION, "study_discrimination")
        self.preference = _table(PREFERENCE, "study_preference")
        self.participants = _table(PARTICIPANTS, "study_participants")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addLayout(files)
        layout.addWidget(self.summary)
        self.sections = {}
        for key, title, table in (("discrimination", "Class discrimination: can people tell which class a map "
                                                     "explains?", self.discrimination),
                                  ("preference", "Preference: which condition's maps seem more reasonable?",
                                   self.preference),
                                  ("participants", "Participants", self.participants)):
            label = QLabel(f"<b>{title}</b> {NOTES[key]}")
            label.setWordWrap(True)
            self.sections[key] = titled(label, table)
            layout.addWidget(self.sections[key], 1)
        self.extra: list[str] = []
        self.package.editingFinished.connect(lambda: self.set_package(self.package.text()))
        self.analyze_button.clicked.connect(self._analyze)
        self.participant_button.clicked.connect(lambda: self.participant_requested.emit(self.package.text().strip()))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Study package")
        if folder:
            self.set_package(folder)

    def _add(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Responses files", self.package.text(), "CSV (*.csv)")
        self.add_responses(paths)

    def add_responses(self, paths) -> None:
        self.extra += [str(p) for p in paths if str(p) not in self.extra]
        self.refresh_files()

    def _clear(self) -> None:
        self.extra = []
        self.refresh_files()

    def set_package(self, folder: str) -> None:
        folder = str(folder).strip()
        if self.package.text() != folder:
            self.package.setText(folder)
        self.refresh_files()
        self.package_changed.emit(folder)

    def files(self) -> list[str]:
        pkg = self.package.text().strip()
        found = [str(p) for p in sa.responses_in(pkg)] if pkg else []
        return found + [p for p in self.extra if p not in found]

    def refresh_files(self) -> None:
        files = self.files()
        if files != [self.responses.item(i).text() for i in range(self.responses.count())]:
            self.responses.clear()
            self.responses.addItems(files)
            self.files_changed.emit()

    def _analyze(self) -> None:
        self.refresh_files()
        self.analyze_requested.emit(self.package.text().strip(), self.files())

    def show_result(self, result: dict | None, files: list[str] | None = None) -> None:
        if result is None:
            for table in (self.discrimination, self.preference, self.participants):
                table.setRowCount(0)
            for section in self.sections.values():
                section.setVisible(True)
            return
        for key in ("discrimination", "preference"):  # only the protocol the package asks
            self.sections[key].setVisible(bool(result[key]))
        _fill(self.discrimination, [[cond, str(r["n"]), _pct(r["accuracy"]), _interval(r["ci95"], _pct),
                                     _p(r["p_value"])] for cond, r in result["discrimination"].items()])
        _fill(self.preference, [[*pair.split("|", 1), str(r["n"]),
                                 "—" if r["mean"] is None else f"{r['mean']:+.2f}",
                                 _interval(r["ci95"], lambda v: f"{v:+.2f}"), _p(r["p_value"])]
                                for pair, r in result["preference"].items()])
        people = result["participants"]
        _fill(self.participants, [[pid, f"{r['answered']} / {r['trials']}", str(r["attention_failures"]),
                                   "no: failed attention checks" if r["excluded"] else "yes"]
                                  for pid, r in people.items()])
        excluded = [pid for pid, r in people.items() if r["excluded"]]
        self.summary.setText(f"{len(people)} participant(s) in {len(files or [])} file(s)"
                             + (f"; left out for failed attention checks: {', '.join(excluded)}" if excluded else "")
                             + ". Conditions are named here only, never to participants.")
