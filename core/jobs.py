"""Cooperative progress reporting and cancellation for long work, without Qt.

Long functions take a ``Progress``; they call ``progress.step()`` as they go, which
raises ``Cancelled`` once someone (a GUI thread, a signal handler) called ``cancel()``.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional


class Cancelled(Exception):
    """Raised inside a job at its next progress step after cancellation was requested."""


class Progress:
    """Progress of one job: ``total`` steps, an optional callback, and a cancel flag.

    The callback receives ``(done, total, message)``; it runs on the worker's thread,
    so a GUI must marshal it (the desktop job runner emits a Qt signal).
    """

    def __init__(self, total: int = 1, callback: Optional[Callable[[int, int, str], None]] = None):
        self.total = max(int(total), 1)
        self.done = 0
        self.message = ""
        self._callback = callback
        self._cancel = threading.Event()
        self.started = time.perf_counter()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` if cancellation was requested."""
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def set_total(self, total: int) -> None:
        self.total = max(int(total), 1)

    def step(self, n: int = 1, message: str = "") -> None:
        """Advance by ``n`` steps, report, and raise ``Cancelled`` if requested."""
        self.check()
        self.done = min(self.done + n, self.total)
        if message:
            self.message = message
        if self._callback is not None:
            self._callback(self.done, self.total, self.message)

    @property
    def fraction(self) -> float:
        return self.done / self.total


def ensure_progress(progress: Optional[Progress], total: int = 1) -> Progress:
    """Return ``progress`` with its total set, or a fresh silent one."""
    if progress is None:
        return Progress(total)
    progress.set_total(total)
    return progress
