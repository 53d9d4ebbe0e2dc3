"""One worker QThread that runs plain-Python jobs (calls into ``core``) off the GUI thread.

Jobs are queued; a newer job of the same *kind* replaces a pending one (latest request wins);
cancel goes through ``core.jobs.Progress``. Progress, result and error come back as signals,
delivered on the GUI thread. Torch's grad mode is thread-local: jobs set what they need.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.jobs import Cancelled, Progress
from core.messages import first_line


@dataclass
class Job:
    kind: str
    fn: Callable[[Progress], Any]
    id: int = 0
    progress: Progress = field(default_factory=Progress)
    started: float = 0.0


class _Worker(QObject):
    progressed = Signal(int, str, int, int, str)  # id, kind, done, total, message
    finished = Signal(int, str, object, float)  # id, kind, result, seconds
    failed = Signal(int, str, str, str)  # id, kind, message, traceback
    cancelled = Signal(int, str)
    wake = Signal()

    def __init__(self, runner: "JobRunner"):
        super().__init__()
        self.runner = runner
        self.wake.connect(self.drain)

    @Slot()
    def drain(self) -> None:
        while True:
            job = self.runner._next()
            if job is None:
                return
            job.started = time.perf_counter()
            job.progress._callback = lambda d, t, m, j=job: self.progressed.emit(j.id, j.kind, d, t, m)
            try:
                job.progress.check()
                result = job.fn(job.progress)
            except Cancelled:
                self.cancelled.emit(job.id, job.kind)
            except Exception as exc:  # every failure becomes a readable message in the window
                message = first_line(exc)
                if "out of memory" in str(exc).lower():
                    message = "out of memory: try a smaller batch size, fewer samples, or the CPU"
                self.failed.emit(job.id, job.kind, message, traceback.format_exc())
            else:
                self.finished.emit(job.id, job.kind, result, time.perf_counter() - job.started)
            finally:
                self.runner._done(job)


class JobRunner(QObject):
    """Owns the worker thread and the queue. ``submit`` returns the job id."""

    progressed = Signal(int, str, int, int, str)
    finished = Signal(int, str, object, float)
    failed = Signal(int, str, str, str)
    cancelled = Signal(int, str)
    busy_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._queue: deque[Job] = deque()
        self._running: Job | None = None
        self._ids = itertools.count(1)
        self._thread = QThread()
        self._thread.setObjectName("saliency-studio-worker")
        self._worker = _Worker(self)
        self._worker.moveToThread(self._thread)
        for name in ("progressed", "finished", "failed", "cancelled"):
            getattr(self._worker, name).connect(getattr(self, name))
        self._thread.start()

    def submit(self, kind: str, fn: Callable[[Progress], Any], supersede: bool = True) -> int:
        """Queue ``fn(progress)``; a pending job of the same kind is dropped when ``supersede``."""
        job = Job(kind, fn, next(self._ids))
        with self._lock:
            if supersede:
                self._queue = deque(j for j in self._queue if j.kind != kind)
            self._queue.append(job)
        self.busy_changed.emit(True)
        self._worker.wake.emit()
        return job.id

    def cancel(self, kind: str | None = None) -> None:
        """Cancel the running job (of ``kind``, or any) and drop pending ones of that kind."""
        with self._lock:
            self._queue = deque(j for j in self._queue if kind is not None and j.kind != kind)
            if self._running is not None and (kind is None or self._running.kind == kind):
                self._running.progress.cancel()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running is not None or bool(self._queue)

    def running_kind(self) -> str | None:
        with self._lock:
            return self._running.kind if self._running else None

    def _next(self) -> Job | None:
        with self._lock:
            self._running = self._queue.popleft() if self._queue else None
            return self._running

    def _done(self, job: Job) -> None:
        with self._lock:
            self._running = None
            idle = not self._queue
        if idle:
            self.busy_changed.emit(False)

    def shutdown(self) -> None:
        self.cancel()
        self._thread.quit()
        self._thread.wait(5000)
