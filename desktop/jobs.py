"""Worker threads that run plain-Python jobs (calls into ``core``) off the GUI thread.

Two lanes, each with its own thread and queue:

- ``interactive``: what the user is looking at right now (explanations, occlusion probes,
  attacks). *Latest request wins*: a new job of a kind drops pending jobs of that kind, and with
  ``supersede="all"`` also cancels the running one (its result would be out of date).
- ``background``: long runs (a folder scan, a bias report, dataset runs, distillation) that queue
  up and let the user keep exploring in the interactive lane meanwhile.

While any job runs, Python's cyclic garbage collector is paused: a collection triggered on one
thread while the other runs model code has crashed and deadlocked PySide6 6.12 here (it may
delete Qt wrappers off the GUI thread). It is paused before a job is queued, and resumes, on the
GUI thread, only once every lane (of every runner) is idle *and* its worker has left its loop: a
worker still emitting its last result, or picking up a job queued a moment before, must not be
the thread that runs the collection. A lane's worker is woken once per burst of jobs (``draining``),
so no stray wake-up makes it run Python while the collector is on.

Cancel goes through ``core.jobs.Progress``. Progress (with an estimate of the time left), result
and error come back as signals on the GUI thread, and to the ``on_done`` / ``on_error`` /
``on_cancel`` callbacks given to ``submit``. Every failure is logged with its traceback.
Torch's grad mode is thread-local: jobs set what they need.
"""

from __future__ import annotations

import gc
import itertools
import logging
import threading
import time
import traceback
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from core.jobs import Cancelled, Progress
from core.messages import first_line

LANES = ("interactive", "background")
RECHECK_MS = 5  # how soon to look again for a worker that is leaving its loop
log = logging.getLogger("saliency_studio.jobs")
_ALL_LANES: "weakref.WeakSet[_Lane]" = weakref.WeakSet()  # every runner's: the collector is global


@dataclass
class Job:
    kind: str
    fn: Callable[[Progress], Any]
    lane: str = "interactive"
    id: int = 0
    progress: Progress = field(default_factory=Progress)
    started: float = 0.0
    done: int = 0
    total: int = 0
    message: str = ""
    superseded: bool = False  # cancelled because a newer request of its kind replaced it
    on_done: Callable | None = None
    on_error: Callable | None = None
    on_cancel: Callable | None = None

    def seconds_left(self) -> float | None:
        """Linear estimate from the progress so far (None before the first step)."""
        if not self.started or self.done <= 0 or self.total <= 0:
            return None
        elapsed = time.perf_counter() - self.started
        return max(0.0, elapsed / self.done * (self.total - self.done))


class _Worker(QObject):
    progressed = Signal(int, str, int, int, str)  # id, kind, done, total, message
    finished = Signal(int, str, object, float)  # id, kind, result, seconds
    failed = Signal(int, str, str, str)  # id, kind, message, traceback
    cancelled = Signal(int, str)
    wake = Signal()

    def __init__(self, lane: "_Lane"):
        super().__init__()
        self.lane = lane
        self.wake.connect(self.drain)

    @Slot()
    def drain(self) -> None:
        try:
            self._drain()
        except BaseException:
            self.lane.stop_draining()  # a failure here must not leave the lane deaf to new jobs
            raise

    def _drain(self) -> None:
        while True:
            job = self.lane.next()
            if job is None:
                return  # next() marked the lane as no longer draining: no more Python runs here
            job.started = time.perf_counter()
            job.progress._callback = lambda d, t, m, j=job: self.progressed.emit(j.id, j.kind, d, t, m)
            outcome: tuple = ()
            try:
                job.progress.check()
                result = job.fn(job.progress)
                if job.superseded:
                    raise Cancelled("superseded")
                outcome = (self.finished, job.id, job.kind, result, time.perf_counter() - job.started)
            except Cancelled:
                outcome = (self.cancelled, job.id, job.kind)
            except Exception as exc:  # every failure becomes a readable message in the window
                message = first_line(exc)
                if "out of memory" in str(exc).lower():
                    message = "out of memory: try a smaller batch size, fewer samples, or the CPU"
                outcome = (self.failed, job.id, job.kind, message, traceback.format_exc())
            finally:
                self.lane.done()  # before the signal: the GUI then sees the lane as it is
            outcome[0].emit(*outcome[1:])


class _Lane:
    """One queue and the thread that drains it."""

    def __init__(self, name: str):
        self.name = name
        self.lock = threading.Lock()
        self.queue: deque[Job] = deque()
        self.running: Job | None = None
        self.draining = False  # from the wake-up that a queued job needs until the worker finds no job
        self.thread = QThread()
        self.thread.setObjectName(f"saliency-studio-{name}")
        self.worker = _Worker(self)
        self.worker.moveToThread(self.thread)
        self.thread.start()
        _ALL_LANES.add(self)

    def next(self) -> Job | None:
        with self.lock:
            self.running = self.queue.popleft() if self.queue else None
            if self.running is None:
                self.draining = False
            return self.running

    def stop_draining(self) -> None:
        with self.lock:
            self.running, self.draining = None, False

    def done(self) -> None:
        with self.lock:
            self.running = None

    @property
    def busy(self) -> bool:
        with self.lock:
            return self.running is not None or bool(self.queue)

    @property
    def settled(self) -> bool:
        """No job, and the worker has left its loop (it runs no Python for this lane)."""
        with self.lock:
            return not self.draining and self.running is None and not self.queue


class JobRunner(QObject):
    """Owns the lanes. ``submit`` returns the job id; ``lane_changed(lane)`` fires whenever a
    lane's job starts, progresses or ends (for progress / time-left / Cancel widgets)."""

    progressed = Signal(int, str, int, int, str)
    finished = Signal(int, str, object, float)
    failed = Signal(int, str, str, str)
    cancelled = Signal(int, str)
    busy_changed = Signal(bool)
    lane_changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._lanes = {name: _Lane(name) for name in LANES}
        for lane in self._lanes.values():
            lane.worker.progressed.connect(self._progressed)
            lane.worker.finished.connect(self._finished)
            lane.worker.failed.connect(self._failed)
            lane.worker.cancelled.connect(self._cancelled)

    def submit(self, kind: str, fn: Callable[[Progress], Any], supersede: bool | str = True, *,
               lane: str = "interactive", on_done: Callable | None = None, on_error: Callable | None = None,
               on_cancel: Callable | None = None) -> int:
        """Queue ``fn(progress)`` on ``lane``. ``supersede``: True drops pending jobs of ``kind``,
        "all" also cancels a running one, False queues behind them."""
        job = Job(kind, fn, lane, next(self._ids), on_done=on_done, on_error=on_error, on_cancel=on_cancel)
        target = self._lanes[lane]
        gc.disable()  # before the job is queued: a draining worker may pick it up at once
        with target.lock:
            if supersede:
                for old in [j for j in target.queue if j.kind == kind]:
                    self._jobs.pop(old.id, None)
                target.queue = deque(j for j in target.queue if j.kind != kind)
                if supersede == "all" and target.running is not None and target.running.kind == kind:
                    target.running.superseded = True
                    target.running.progress.cancel()
            target.queue.append(job)
            self._jobs[job.id] = job
            wake, target.draining = not target.draining, True
        self.busy_changed.emit(True)
        self.lane_changed.emit(lane)
        if wake:  # a draining worker finds the job itself
            target.worker.wake.emit()
        return job.id

    def cancel(self, kind: str | None = None, lane: str | None = None) -> None:
        """Cancel the running job (of ``kind``, or any; on ``lane``, or all) and drop pending ones."""
        for name, target in self._lanes.items():
            if lane is not None and name != lane:
                continue
            with target.lock:
                dropped = [j for j in target.queue if kind is None or j.kind == kind]
                target.queue = deque(j for j in target.queue if j not in dropped)
                if target.running is not None and (kind is None or target.running.kind == kind):
                    target.running.progress.cancel()
            for job in dropped:
                self._jobs.pop(job.id, None)
                if job.on_cancel is not None:
                    job.on_cancel()
            self.lane_changed.emit(name)
        if not self.busy:  # only pending jobs were dropped: no job end will say so
            self._resume_collector()
            self.busy_changed.emit(False)

    @property
    def busy(self) -> bool:
        return any(lane.busy for lane in self._lanes.values())

    def lane_busy(self, lane: str) -> bool:
        return self._lanes[lane].busy

    def running_kind(self, lane: str | None = None) -> str | None:
        job = self.running(lane)
        return job.kind if job else None

    def seconds_left(self, job_id: int, lane: str = "background") -> float | None:
        """The estimated time left of job ``job_id`` while it runs in ``lane``, else None."""
        job = self.running(lane)
        return job.seconds_left() if job is not None and job.id == job_id else None

    def running(self, lane: str | None = None) -> Job | None:
        """The running job of ``lane`` (the interactive one first when ``lane`` is None)."""
        for name, target in self._lanes.items():
            if lane is None or name == lane:
                with target.lock:
                    if target.running is not None:
                        return target.running
        return None

    # ----- worker signals, on the GUI thread -----
    def _progressed(self, job_id, kind, done, total, message) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.done, job.total, job.message = done, total, message
            self.lane_changed.emit(job.lane)
        self.progressed.emit(job_id, kind, done, total, message)

    def _finished(self, job_id, kind, result, seconds) -> None:
        job = self._jobs.pop(job_id, None)
        if job is not None and job.on_done is not None:
            try:
                job.on_done(result)
            except Exception as exc:  # a display bug must not take the window down
                log.error("showing the result of %s failed\n%s", kind, traceback.format_exc())
                self.failed.emit(job_id, kind, f"showing the result failed: {first_line(exc)}",
                                 traceback.format_exc())
                self._ended(job)
                return
        self.finished.emit(job_id, kind, result, seconds)
        self._ended(job)

    def _failed(self, job_id, kind, message, trace) -> None:
        job = self._jobs.pop(job_id, None)
        log.error("%s failed: %s\n%s", kind, message, trace)  # the log file keeps the full traceback
        for handler in logging.getLogger().handlers:
            handler.flush()
        if job is not None and job.on_error is not None:
            job.on_error(message)
        self.failed.emit(job_id, kind, message, trace)
        self._ended(job)

    def _cancelled(self, job_id, kind) -> None:
        job = self._jobs.pop(job_id, None)
        superseded = job is not None and job.superseded
        if job is not None and job.on_cancel is not None and not superseded:
            job.on_cancel()
        if not superseded:
            self.cancelled.emit(job_id, kind)
        self._ended(job)

    def _ended(self, job: Job | None) -> None:
        if job is not None:
            self.lane_changed.emit(job.lane)
        if not self.busy:
            self._resume_collector()
            self.busy_changed.emit(False)

    def _resume_collector(self) -> None:
        """Turn the collector back on once every lane of every runner is settled; while a worker
        is still leaving its loop (after its last result), look again in ``RECHECK_MS``."""
        lanes = list(_ALL_LANES)
        if any(lane.busy for lane in lanes):
            return  # the end of that lane's last job calls this again
        if not all(lane.settled for lane in lanes):
            QTimer.singleShot(RECHECK_MS, self._resume_collector)
            return
        gc.enable()

    def shutdown(self) -> None:
        self.cancel()
        for lane in self._lanes.values():
            lane.thread.quit()
            lane.thread.wait(5000)
        if all(lane.thread.isFinished() for lane in self._lanes.values()):
            _ALL_LANES.difference_update(self._lanes.values())
        self._resume_collector()


def seconds_text(seconds: float) -> str:
    """A time left for the status lines: "40 s", "3 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
