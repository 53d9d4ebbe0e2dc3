"""Participant mode: a study package run by a person at this computer, full-window.

ID → consent → instructions → practice (with feedback for discrimination) → the trials → thanks.
The participant sees only the blinded trial list (``core.study.player.player_data``): the
pictures and, for discrimination, the two class names offered; never a method, a model or a
condition. Keys: ← / → pick the left / right name (discrimination); 1-5 answer the scale from
"left much more reasonable" (stored −2) to "right much more reasonable" (+2) (preference);
P pauses; Enter / Space continue. Progress reads "12 / 40". Every answer is appended to the
responses file (``participant,trial,choice,rt_ms``) with flush + fsync before the next trial
(``core.study.responses``); reopening with the same ID resumes at the next unanswered trial.
``rt_ms`` runs from the moment the trial's pictures are shown; a pause restarts it.
Procedure after Selvaraju et al. 2017 (Grad-CAM §5.1-5.2) and Chattopadhay et al. 2018 (§6).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QLineEdit, QPushButton, QStackedWidget, QVBoxLayout, QWidget)

from . import study_adapters as sa

END_TEXT = "Thank you, you have answered every question. Your answers are saved; you may close this window."
DECLINED_TEXT = "Thank you. You may close this window."
PAGE_STYLE = "QLabel { font-size: 16pt; } QPushButton { font-size: 14pt; padding: 8px 18px; }"


def _text(size: int = 16) -> QLabel:
    label = QLabel("")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignCenter)
    label.setStyleSheet(f"font-size: {size}pt;")
    return label


def _button(text: str, name: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setFocusPolicy(Qt.NoFocus)  # keys go to the window, never to a focused button
    return button


class ParticipantWindow(QWidget):
    trial_shown = Signal(int)  # the trial number (0 for a practice trial)
    answered = Signal(int, object)  # trial number, choice ("left"/"right" or −2..2)
    finished = Signal()
    closed = Signal()

    def __init__(self, pkg: str | Path, responses: str | Path | None = None, parent=None):
        super().__init__(parent)
        self.pkg = Path(pkg)
        self.data = sa.player_data(self.pkg)
        self.disc = self.data["protocol"] == "discrimination"
        self.responses_override = Path(responses) if responses else None
        self.log = None
        self.mode, self.index = "practice", 0
        self.shown_at = 0.0
        self.waiting = False  # a trial is shown and not answered yet
        self._pixmaps: dict[str, QPixmap] = {}
        self.setWindowTitle("Study")
        self.setStyleSheet(PAGE_STYLE)
        self.setFocusPolicy(Qt.StrongFocus)
        self.pages = QStackedWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self._id_page()
        self._text_page()
        self._trial_page()
        self.pages.setCurrentWidget(self.id_page)

    # ----- pages -----
    def _id_page(self) -> None:
        self.id_page = QWidget()
        self.pid = QLineEdit()
        self.pid.setObjectName("participant_id")
        self.pid.setPlaceholderText("participant ID")
        self.pid.setMaximumWidth(360)
        self.pid.returnPressed.connect(self.begin)
        self.id_note = _text(12)
        start = _button("Start", "participant_start")
        start.clicked.connect(self.begin)
        column = QVBoxLayout(self.id_page)
        column.addStretch(1)
        ask = _text()
        ask.setText("Please enter the participant ID you were given.")
        column.addWidget(ask)
        column.addWidget(self.pid, 0, Qt.AlignCenter)
        column.addWidget(start, 0, Qt.AlignCenter)
        column.addWidget(self.id_note)
        column.addStretch(1)
        self.pages.addWidget(self.id_page)

    def _text_page(self) -> None:
        self.text_page = QWidget()
        self.info = _text()
        self.info.setObjectName("participant_text")
        self.primary = _button("Continue", "participant_continue")
        self.secondary = _button("", "participant_decline")
        self.primary.clicked.connect(lambda: self._after and self._after())
        self.secondary.clicked.connect(self._decline)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.secondary)
        row.addWidget(self.primary)
        row.addStretch(1)
        column = QVBoxLayout(self.text_page)
        column.addStretch(1)
        column.addWidget(self.info)
        column.addLayout(row)
        column.addStretch(1)
        self._after = None
        self.pages.addWidget(self.text_page)

    def _trial_page(self) -> None:
        self.trial_page = QWidget()
        self.progress = _text(12)
        self.progress.setObjectName("participant_progress")
        self.question = _text()
        self.question.setObjectName("participant_question")
        self.pictures = {name: QLabel() for name in ("image", "left", "right")}
        captions = {"image": "the picture", "left": "highlighted" if self.disc else "LEFT", "right": "RIGHT"}
        row = QHBoxLayout()
        row.addStretch(1)
        self.picture_boxes = {}
        for name, label in self.pictures.items():
            label.setAlignment(Qt.AlignCenter)
            caption = _text(12)
            caption.setText(captions[name])
            box = QWidget()
            stack = QVBoxLayout(box)
            stack.addStretch(1)
            stack.addWidget(caption)
            stack.addWidget(label)
            stack.addStretch(1)
            self.picture_boxes[name] = box
            row.addWidget(box)
        row.addStretch(1)
        self.choices = {"left": _button("", "answer_left"), "right": _button("", "answer_right")}
        self.choices.update({k: _button(f"{k}\n{text}", f"answer_{k}")
                             for k, text in enumerate(self.data["scale"], start=1)})
        for k in range(1, len(self.data["scale"]) + 1):
            self.choices[k].setStyleSheet("font-size: 11pt; padding: 6px 8px;")
        answers = QHBoxLayout()
        answers.addStretch(1)
        for key, button in self.choices.items():
            button.clicked.connect(lambda _=False, k=key: self.answer(self._choice(k)))
            button.setVisible((key in ("left", "right")) == self.disc)
            answers.addWidget(button)
        answers.addStretch(1)
        hint = _text(11)
        hint.setText("press ← or → (or click a name); P pauses" if self.disc else
                     "press a key from 1 to 5 (or click); P pauses")
        hint.setStyleSheet("font-size: 11pt; color: #777;")
        self.feedback = _text(14)
        self.feedback.setObjectName("participant_feedback")
        self.next_button = _button("Next", "participant_next")
        self.next_button.clicked.connect(self._next_practice)
        self.pause_button = _button("Pause (P)", "participant_pause")
        self.pause_button.clicked.connect(self.pause)
        top = QHBoxLayout()
        top.addWidget(self.progress, 1)
        top.addWidget(self.pause_button)
        column = QVBoxLayout(self.trial_page)
        column.addLayout(top)
        column.addWidget(self.question)
        column.addLayout(row, 1)
        column.addLayout(answers)
        column.addWidget(hint)
        column.addWidget(self.feedback)
        column.addWidget(self.next_button, 0, Qt.AlignCenter)
        self.pages.addWidget(self.trial_page)

    def _say(self, text: str, after, button: str = "Continue", decline: str = "") -> None:
        self.info.setText(text)
        self._after = after
        self.primary.setText(button)
        self.primary.setVisible(after is not None)
        self.secondary.setText(decline)
        self.secondary.setVisible(bool(decline))
        self.pages.setCurrentWidget(self.text_page)
        self.setFocus()

    # ----- flow -----
    @property
    def trial_numbers(self) -> list[int]:
        return [t["trial"] for t in self.data["trials"]]

    def responses_path(self, participant: str) -> Path:
        return self.responses_override or sa.participant_file(self.pkg, participant)

    def begin(self) -> None:
        pid = self.pid.text().strip()
        if not pid:
            self.id_note.setText("Please enter an ID.")
            return
        try:
            self.log = sa.response_log(self.responses_path(pid), pid)
        except (OSError, ValueError) as exc:
            self.id_note.setText(f"The answers cannot be saved: {exc}")
            return
        texts = self.data["texts"]
        if self.log.answered:
            nxt = self.log.next_unanswered(self.trial_numbers)
            if nxt is None:
                self._end()
                return
            self._say(f"Welcome back. You continue at question {nxt + 1} / {len(self.trial_numbers)}.\n\n"
                      + texts["instructions"], self.run_trials)
            return
        self._say(texts["consent"], self._instructions, "I agree", "I do not agree")

    def _decline(self) -> None:
        self.log = None
        self._say(DECLINED_TEXT, None)

    def _instructions(self) -> None:
        self._say(self.data["texts"]["instructions"], self._practice)

    def _practice(self) -> None:
        if not self.data["practice"]:
            self.run_trials()
            return

        def go():
            self.mode, self.index = "practice", 0
            self._show()

        self._say(self.data["texts"]["practice"], go)

    def run_trials(self) -> None:
        self.mode = "trials"
        nxt = self.log.next_unanswered(self.trial_numbers)
        if nxt is None:
            self._end()
            return
        self.index = nxt
        self._show()

    def _current(self) -> dict:
        return (self.data["practice"] if self.mode == "practice" else self.data["trials"])[self.index]

    def _side(self) -> int:
        return max(160, min((self.width() - 120) // 3, int(self.height() * 0.45)))

    def _show(self) -> None:
        t = self._current()
        n = len(self.data["practice"] if self.mode == "practice" else self.data["trials"])
        self.progress.setText(("Practice " if self.mode == "practice" else "") + f"{self.index + 1} / {n}")
        self.question.setText("Which of the two does the highlighting point at?" if self.disc else
                              f"Which highlighting of the {t['explains']} seems more reasonable?")
        files = {"image": t["image"], "left": t["stimuli"][0], "right": "" if self.disc else t["stimuli"][1]}
        self._pixmaps = {name: QPixmap(str(self.pkg / f)) for name, f in files.items() if f}
        for name, box in self.picture_boxes.items():
            box.setVisible(name in self._pixmaps)
        self._scale()
        if self.disc:
            self.choices["left"].setText(f"← {t['left']}")
            self.choices["right"].setText(f"{t['right']} →")
        self.feedback.setText("")
        self.next_button.setVisible(False)
        for button in self.choices.values():
            button.setEnabled(True)
        self.pages.setCurrentWidget(self.trial_page)
        self.setFocus()
        self.waiting = True
        self.shown_at = time.perf_counter()
        self.trial_shown.emit(0 if self.mode == "practice" else t["trial"])

    def _scale(self) -> None:
        """The pictures as large as the window allows (three side by side, half its height)."""
        side = self._side()
        for name, pixmap in self._pixmaps.items():
            self.pictures[name].setPixmap(pixmap.scaled(side, side, Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._scale()

    def _choice(self, key):
        return key if key in ("left", "right") else int(key) - 3

    def answer(self, choice) -> None:
        if not self.waiting or self.pages.currentWidget() is not self.trial_page:
            return
        rt_ms = (time.perf_counter() - self.shown_at) * 1000
        self.waiting = False
        t = self._current()
        if self.mode == "practice":
            if self.disc:
                named = t["left"] if t["correct"] == "left" else t["right"]
                self.feedback.setText("Right." if choice == t["correct"] else
                                      f"Not quite: it highlighted the {named}.")
                for button in self.choices.values():
                    button.setEnabled(False)
                self.next_button.setVisible(True)
                return
            self._next_practice()
            return
        self.log.append(t["trial"], choice, rt_ms)  # on disk before anything else happens
        self.answered.emit(t["trial"], choice)
        self.run_trials()

    def _next_practice(self) -> None:
        self.index += 1
        if self.index < len(self.data["practice"]):
            self._show()
            return
        self._say(self.data["texts"]["start"], self.run_trials)

    def pause(self) -> None:
        if self.pages.currentWidget() is self.trial_page and self.waiting:
            self._say(self.data["texts"]["pause"], self._show)

    def _end(self) -> None:
        self._say(END_TEXT, None)
        self.finished.emit()

    def closeEvent(self, event) -> None:
        self.closed.emit()  # every answer is already on disk
        super().closeEvent(event)

    # ----- keys -----
    KEYS = (Qt.Key_Left, Qt.Key_Right, Qt.Key_1, Qt.Key_2, Qt.Key_3, Qt.Key_4, Qt.Key_5, Qt.Key_P, Qt.Key_Space,
            Qt.Key_Return, Qt.Key_Enter)

    def event(self, event) -> bool:
        """The answer keys are ours: no shortcut of another window (the app's ← / → image
        stepping) may take them while the participant answers."""
        if event.type() == QEvent.ShortcutOverride and event.key() in self.KEYS and not self.pid.hasFocus():
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key, page = event.key(), self.pages.currentWidget()
        if event.isAutoRepeat():
            return
        if page is self.text_page and key in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Space) and self._after:
            if not self.secondary.isVisible():  # consent needs a click on "I agree"
                self._after()
        elif page is self.trial_page:
            if key == Qt.Key_P:
                self.pause()
            elif self.next_button.isVisible() and key in (Qt.Key_Return, Qt.Key_Enter, Qt.Key_Space):
                self._next_practice()
            elif self.disc and key in (Qt.Key_Left, Qt.Key_Right):
                self.answer("left" if key == Qt.Key_Left else "right")
            elif not self.disc and int(Qt.Key_1) <= int(key) <= int(Qt.Key_5):
                self.answer(int(key) - int(Qt.Key_1) - 2)
        else:
            super().keyPressEvent(event)
