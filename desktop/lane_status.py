"""One job lane in the status bar: what runs, its progress, the time left and Cancel."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from .jobs import seconds_text as _seconds


class LaneStatus(QWidget):
    def __init__(self, jobs, lane: str, parent=None):
        super().__init__(parent)
        self.jobs, self.lane = jobs, lane
        self.setObjectName(f"lane_{lane}")
        self.label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(120)
        self.progress.setTextVisible(False)
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setObjectName(f"cancel_{lane}")
        self.cancel.clicked.connect(lambda: self.jobs.cancel(lane=self.lane))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.progress)
        layout.addWidget(self.cancel)
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self.update_view)
        jobs.lane_changed.connect(self._lane_changed)
        self.setVisible(False)

    def _lane_changed(self, name: str) -> None:
        if name == self.lane:
            self.update_view()

    def update_view(self) -> None:
        job = self.jobs.running(self.lane)
        if job is None:
            self.timer.stop()
            self.setVisible(False)
            return
        self.setVisible(True)
        if not self.timer.isActive():
            self.timer.start()
        self.progress.setMaximum(max(job.total, 1) if job.total else 0)  # 0: busy indicator
        self.progress.setValue(job.done)
        left = job.seconds_left()
        where = "background: " if self.lane == "background" else ""
        self.label.setText(f"{where}{job.kind}" + (f" — {_seconds(left)} left" if left is not None else "…"))
