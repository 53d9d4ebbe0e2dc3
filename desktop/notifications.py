"""Messages that stay: a notification area (errors and warnings kept until dismissed) and a log
panel listing every message with its time and level."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QApplication, QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
                               QStyle, QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from .log_setup import LOGGER_NAME

LEVELS = ("error", "warning", "info")
# level → (border, background, text, standard icon)
STYLE = {"error": ("#c5221f", "#fce8e6", "#3c0a08", QStyle.SP_MessageBoxCritical),
         "warning": ("#e37400", "#fef7e0", "#3d2600", QStyle.SP_MessageBoxWarning),
         "info": ("#1a73e8", "#e8f0fe", "#0b2a52", QStyle.SP_MessageBoxInformation)}
LOG_LEVEL = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}
INFO_TIMEOUT_MS = 6000

_ids = itertools.count(1)
logger = logging.getLogger(LOGGER_NAME)


@dataclass
class Notification:
    """One message: ``persistent`` ones stay until dismissed (errors and warnings always do)."""

    level: str
    text: str
    details: str = ""
    persistent: bool = True
    key: str | None = None
    count: int = 1
    time: datetime = field(default_factory=datetime.now)
    id: int = field(default_factory=lambda: next(_ids))


def _check_level(level: str) -> str:
    level = level.lower()
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    return level


class NotificationCard(QFrame):
    """The widget of one notification: icon, word-wrapped text, optional details, dismiss button."""

    dismiss_clicked = Signal(int)

    def __init__(self, note: Notification, parent=None):
        super().__init__(parent)
        self.note_id = note.id
        self.setObjectName(f"notification-{note.level}")
        self.icon = QLabel()
        self.icon.setAlignment(Qt.AlignTop)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        self.text.setContentsMargins(0, 2, 0, 0)
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.details.setVisible(False)
        self.details_button.toggled.connect(self._toggle_details)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(lambda: self.dismiss_clicked.emit(self.note_id))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.icon, 0, Qt.AlignTop)
        top.addWidget(self.text, 1, Qt.AlignTop)
        top.addWidget(self.details_button, 0, Qt.AlignTop)
        top.addWidget(self.close_button, 0, Qt.AlignTop)
        box = QVBoxLayout(self)
        box.setContentsMargins(8, 6, 6, 6)
        box.addLayout(top)
        box.addWidget(self.details)
        self.update_from(note)

    def _toggle_details(self, shown: bool) -> None:
        self.details_button.setText("Hide details" if shown else "Details")
        lines = self.details.toPlainText().count("\n") + 1
        height = lines * self.details.fontMetrics().lineSpacing() + 16
        self.details.setFixedHeight(min(max(height, 48), 160))
        self.details.setVisible(shown)

    def update_from(self, note: Notification) -> None:
        border, background, ink, icon = STYLE[note.level]
        self.setObjectName(f"notification-{note.level}")
        self.setStyleSheet(f"#notification-{note.level} {{ background: {background}; border: 1px solid {border};"
                           f" border-left: 5px solid {border}; border-radius: 4px; }}"
                           f" QLabel {{ color: {ink}; background: transparent; border: none; }}")
        self.icon.setPixmap(self.style().standardIcon(icon).pixmap(20, 20))
        repeat = f"  (×{note.count})" if note.count > 1 else ""
        self.text.setText(note.text + repeat)
        self.details.setPlainText(note.details)
        self.details_button.setVisible(bool(note.details))
        if not note.details:
            self.details_button.setChecked(False)


class NotificationArea(QWidget):
    """A column of notifications. Errors and warnings stay until dismissed; info messages expire
    after ``info_timeout_ms`` unless posted with ``persistent=True``. The same text posted again
    while shown is counted, not stacked; a ``key`` names a message to be replaced or dismissed
    later (e.g. "random-weights")."""

    changed = Signal()  # the list of shown notifications changed
    posted = Signal(object)  # a Notification, on every notify() (repeats included)
    dismissed = Signal(int)  # the id of a notification removed

    def __init__(self, parent=None, info_timeout_ms: int = INFO_TIMEOUT_MS):
        super().__init__(parent)
        self.info_timeout_ms = info_timeout_ms
        self._notes: dict[int, Notification] = {}
        self._cards: dict[int, NotificationCard] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)

    def notify(self, level: str, text: str, details: str = "", *, persistent: bool | None = None,
               key: str | None = None, timeout_ms: int | None = None, log: bool = True) -> int:
        """Show a message; returns its id. ``level`` is "error", "warning" or "info"."""
        level = _check_level(level)
        persistent = True if level != "info" else bool(persistent)
        if log:
            logger.log(LOG_LEVEL[level], text if not details else f"{text}\n{details}")
        note = self._find(key, level, text)
        if note is not None:
            note.count = note.count + 1 if note.text == text else 1
            note.level, note.text, note.details, note.persistent = level, text, details, persistent
            note.time = datetime.now()
            self._cards[note.id].update_from(note)
        else:
            note = Notification(level, text, details, persistent, key)
            self._notes[note.id] = note
            card = NotificationCard(note, self)
            card.dismiss_clicked.connect(self.dismiss)
            self._cards[note.id] = card
            self._layout.insertWidget(0, card)  # newest on top
        if not persistent:
            QTimer.singleShot(self.info_timeout_ms if timeout_ms is None else timeout_ms,
                              self, lambda i=note.id, t=note.time: self._expire(i, t))
        self.posted.emit(note)
        self.changed.emit()
        return note.id

    def error(self, text: str, details: str = "", **options) -> int:
        return self.notify("error", text, details, **options)

    def warning(self, text: str, details: str = "", **options) -> int:
        return self.notify("warning", text, details, **options)

    def info(self, text: str, details: str = "", **options) -> int:
        return self.notify("info", text, details, **options)

    def _find(self, key: str | None, level: str, text: str) -> Notification | None:
        for note in self._notes.values():
            if (key is not None and note.key == key) or (key is None and note.key is None
                                                          and (note.level, note.text) == (level, text)):
                return note
        return None

    def _expire(self, note_id: int, posted_at: datetime) -> None:
        note = self._notes.get(note_id)
        if note is not None and not note.persistent and note.time == posted_at:
            self.dismiss(note_id)

    def dismiss(self, note_id: int) -> bool:
        """Remove a notification; False when it is not shown."""
        note = self._notes.pop(note_id, None)
        if note is None:
            return False
        card = self._cards.pop(note_id)
        self._layout.removeWidget(card)
        card.hide()
        card.deleteLater()
        self.dismissed.emit(note_id)
        self.changed.emit()
        return True

    def dismiss_key(self, key: str) -> bool:
        """Remove the notification posted with ``key``, if shown."""
        note = next((n for n in self._notes.values() if n.key == key), None)
        return note is not None and self.dismiss(note.id)

    def clear(self) -> None:
        """Dismiss everything."""
        for note_id in list(self._notes):
            self.dismiss(note_id)

    def items(self) -> list[Notification]:
        """The notifications shown, newest first."""
        return sorted(self._notes.values(), key=lambda n: (n.time, n.id), reverse=True)

    def card(self, note_id: int) -> NotificationCard | None:
        return self._cards.get(note_id)


class LogPanel(QWidget):
    """Read-only list of every message (time, level, text); details in the tooltip and a pane
    below. ``attach(area)`` records everything a NotificationArea posts."""

    MAX_ENTRIES = 2000

    def __init__(self, parent=None):
        super().__init__(parent)
        self._entries: list[Notification] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Time", "Level", "Message"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setWordWrap(True)
        self.tree.setColumnWidth(0, 70)
        self.tree.setColumnWidth(1, 90)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(110)
        self.details.setPlaceholderText("Select a message to see its details.")
        self.tree.currentItemChanged.connect(self._show_details)
        copy = QPushButton("Copy all")
        copy.clicked.connect(lambda: QApplication.clipboard().setText(self.text()))
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(copy)
        buttons.addWidget(clear)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.tree, 1)
        box.addWidget(self.details)
        box.addLayout(buttons)

    def attach(self, area: NotificationArea) -> None:
        area.posted.connect(lambda note: self.record(note.level, note.text, note.details, note.time))

    def record(self, level: str, text: str, details: str = "", when: datetime | None = None) -> None:
        """Add one line (newest at the bottom)."""
        entry = Notification(_check_level(level), text, details, time=when or datetime.now())
        self._entries.append(entry)
        row = QTreeWidgetItem([entry.time.strftime("%H:%M:%S"), entry.level, text])
        row.setIcon(1, self.style().standardIcon(STYLE[entry.level][3]))
        row.setToolTip(2, details or text)
        row.setData(0, Qt.UserRole, len(self._entries) - 1)
        self.tree.addTopLevelItem(row)
        if len(self._entries) > self.MAX_ENTRIES:
            self._entries.pop(0)
            self.tree.takeTopLevelItem(0)
            for i in range(self.tree.topLevelItemCount()):
                self.tree.topLevelItem(i).setData(0, Qt.UserRole, i)
        self.tree.scrollToBottom()

    def _show_details(self, row, _previous=None) -> None:
        if row is None:
            self.details.clear()
            return
        entry = self._entries[row.data(0, Qt.UserRole)]
        self.details.setPlainText(f"{entry.time:%Y-%m-%d %H:%M:%S} {entry.level}\n{entry.text}"
                                  + (f"\n\n{entry.details}" if entry.details else ""))

    def entries(self) -> list[Notification]:
        """Every recorded message, oldest first."""
        return list(self._entries)

    def text(self) -> str:
        """All messages as plain text (one per line, details indented)."""
        lines = []
        for e in self._entries:
            lines.append(f"{e.time:%H:%M:%S} {e.level:<7} {e.text}")
            lines.extend(f"    {line}" for line in e.details.splitlines())
        return "\n".join(lines)

    def clear(self) -> None:
        self._entries.clear()
        self.tree.clear()
        self.details.clear()
