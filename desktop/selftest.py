"""The offscreen self-test of the packaged app (``saliency-studio --self-test``), made so that it can
never wait forever.

Every step (open the window, load the demo model, compute each method, let the lanes finish,
write the overlays, stop the jobs and close the window) has a time limit. Two guards enforce it:

- while the window's event loop runs, the step's own wait ends at the limit with one line,
  ``self-test FAILED: step '<step>' timed out after N s``, and exit status 1;
- when the event loop itself is stuck (the GUI thread blocked: a deadlock), a watchdog thread
  prints ``self-test FAILED: step '<step>' hung …``, every thread's stack (``faulthandler``) and
  ends the process with status 1; should the watchdog itself be unable to run (a thread holding
  the GIL forever), ``faulthandler``'s own timer dumps every thread's stack and exits a little later.
  Each step's start is written to stderr (``self-test: <step> …``), so the log names it either way.
  The interpreter's exit, after the verdict, is guarded the same way.

A failed job or an error the window reports (e.g. an image it could not open) ends the step at
once with that message, rather than at its time limit.

The steps wait on the session's state, looked at every few milliseconds, not on a signal alone:
a job that ends before its wait begins cannot be missed. The jobs left running in the lanes (the
time-per-pass calibration, the sanity look-up) are waited for before the window closes, so no
thread is still running when the interpreter exits ("QThread: Destroyed while thread is still
running" aborts it).
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

STEP_SECONDS = 300.0  # the longest any step may take (loaded CI machines are slow)
GRACE_SECONDS = 30.0  # past the step's limit, how long the watchdog gives the event loop
POLL_MS = 25  # how often a waiting step looks at its condition (no signal can be missed)


class StepTimeout(RuntimeError):
    """A step did not finish within its time."""


def _fault_stream():
    """A stream with a file descriptor for faulthandler: stderr, or the process's own (under pytest)."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.fileno()
                return stream
        except (AttributeError, OSError, ValueError):
            continue
    return None


class Watchdog:
    """Ends a step that overruns by ``grace`` seconds even when the GUI thread is blocked: one line
    naming the step, every thread's stack, then ``os._exit(1)`` (or, with ``exit_on_hang=False``,
    only the line and the stacks: for the in-process test)."""

    def __init__(self, grace: float = GRACE_SECONDS, exit_on_hang: bool = True):
        self.grace, self.exit_on_hang = grace, exit_on_hang
        self.stream = _fault_stream()
        self.fired: list[str] = []
        self._cond = threading.Condition()
        self._step: str | None = None
        self._seconds = 0.0
        self._deadline: float | None = None
        self._closed = False
        self._own_faulthandler = self.stream is not None and not faulthandler.is_enabled()
        if self._own_faulthandler:  # (PYTHONFAULTHANDLER or pytest may have enabled it already)
            faulthandler.enable(self.stream, all_threads=True)  # a crash leaves every stack too
        self._thread = threading.Thread(target=self._watch, name="self-test watchdog", daemon=True)
        self._thread.start()

    def arm(self, step: str, seconds: float) -> None:
        say(f"self-test: {step} (at most {seconds:g} s)")
        with self._cond:
            self._step, self._seconds = step, seconds
            self._deadline = time.monotonic() + seconds + self.grace
            self._cond.notify()
        if self.exit_on_hang and self.stream is not None:  # the last resort: needs no GIL
            faulthandler.dump_traceback_later(seconds + 2 * self.grace, exit=True, file=self.stream)

    def disarm(self) -> None:
        with self._cond:
            self._deadline = None
            self._cond.notify()
        if self.exit_on_hang:
            faulthandler.cancel_dump_traceback_later()

    def close(self) -> None:
        self.disarm()
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(5)
        if self._own_faulthandler:
            faulthandler.disable()

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                step, self._deadline = self._step, None
                self._hung(step)

    def _hung(self, step: str) -> None:
        line = (f"self-test FAILED: step '{step}' hung: no progress {self._seconds + self.grace:g} s after "
                f"it started (limit {self._seconds:g} s); every thread's stack follows")
        self.fired.append(line)
        say(line)
        if self.stream is not None:
            faulthandler.dump_traceback(self.stream, all_threads=True)
            self.stream.flush()
        if self.exit_on_hang:
            os._exit(1)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def wait_until(done: Callable[[], bool], seconds: float, step: str) -> None:
    """Run the event loop until ``done()`` or ``seconds`` have passed (``StepTimeout``). The
    condition is looked at every ``POLL_MS``, so nothing that happened before the wait began
    (a job that ended early, a signal already delivered) can be missed."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + seconds
    loop = QEventLoop()
    tick = QTimer()
    tick.setInterval(POLL_MS)
    tick.timeout.connect(lambda: loop.quit() if done() or time.monotonic() >= deadline else None)
    try:
        while not done():
            if time.monotonic() >= deadline:
                raise StepTimeout(f"step '{step}' timed out after {seconds:g} s")
            tick.start()
            loop.exec()
    finally:
        tick.stop()


def run(out_dir: str | Path | None = None, step_seconds: float = STEP_SECONDS,
        grace_seconds: float = GRACE_SECONDS, exit_on_hang: bool = True) -> int:
    """Open the window offscreen, load the demo model, compute the default method and the
    cheapest method of each other family through the job runner, write an overlay PNG of each;
    0 when all worked, 1 (with one line naming the step) when not."""
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="saliency-studio-selftest-"))
    watchdog = Watchdog(grace_seconds, exit_on_hang)
    window = None
    try:
        window = _open_window(watchdog, out_dir, step_seconds)
        results = _compute(watchdog, window, step_seconds)
        watchdog.arm("write the overlays", step_seconds)
        _write(results, out_dir)
        print(f"self-test passed ({', '.join(results)}): overlays written to {out_dir}", flush=True)
        return 0
    except Exception as exc:  # report, never hang or crash silently
        say(f"self-test FAILED: {exc}")
        return 1
    finally:
        try:
            if window is not None:
                watchdog.arm("stop the jobs and close the window", step_seconds)
                _stop_jobs(window, step_seconds)
                window.close()  # stops the job lanes' threads
        finally:
            watchdog.close()
            if exit_on_hang and watchdog.stream is not None:  # nor may the interpreter's exit hang
                say(f"self-test: exit (at most {step_seconds:g} s)")
                faulthandler.dump_traceback_later(step_seconds, exit=True, file=watchdog.stream)


def _stop_jobs(window, seconds: float) -> None:
    """Cancel what still runs (only after a failed step: a passed test left the lanes idle) and
    wait, within ``seconds``, until nothing does."""
    window.jobs.cancel()
    try:
        wait_until(lambda: _idle(window), seconds, "stop the jobs")
    except StepTimeout as exc:  # the failure is already reported: this only adds why exit may abort
        say(f"self-test: {exc}; a job ignored Cancel")


def _open_window(watchdog: Watchdog, out_dir: Path, step_seconds: float):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from .app import build_window

    watchdog.arm("open the window", step_seconds)
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("Saliency Studio")
    return build_window(app, settings=QSettings(str(out_dir / "selftest-settings.ini"), QSettings.IniFormat))


def _compute(watchdog: Watchdog, window, step_seconds: float) -> dict:
    """Each method's shown result, {method: Explanation}; the default method first, which
    loading the model computes by itself."""
    from . import adapters
    from .app import self_test_methods, start

    shown: list = []  # every explanation the window showed, in order
    failures: list[str] = []
    window.explanation_shown.connect(shown.append)  # connected once, before any job starts
    window.jobs.failed.connect(lambda _id, kind, message, _trace: failures.append(f"{kind} failed: {message}"))
    session = window.session
    # an error the window only shows (e.g. the image could not be opened) ends the step at once too
    session.notice.connect(lambda level, text, _details: failures.append(text) if level == "error" else None)

    def finished(method: str) -> Callable[[], bool]:
        def done() -> bool:
            if failures:
                return True
            result = session.result() if session.method == method else None
            return result is not None and any(r is result for r in shown)
        return done

    def step(name: str, action: Callable[[], None], done: Callable[[], bool]) -> None:
        watchdog.arm(name, step_seconds)
        action()
        wait_until(done, step_seconds, name)
        if failures:
            raise RuntimeError(f"step '{name}': {failures[0]}")

    default = adapters.DEFAULT_METHOD
    step(f"load the demo model and show {default}", lambda: start(window), finished(default))
    results = {default: session.result()}
    for method in self_test_methods():
        if method in results:
            continue

        def run_method(m=method):
            session.set_method(m)
            session.explain()
        step(f"compute {method}", run_method, finished(method))
        results[method] = session.result()
    step("let the remaining jobs finish", lambda: None, lambda: bool(failures) or _idle(window))
    return results


def _idle(window) -> bool:
    """No job in any lane: nothing may still run when the interpreter exits."""
    return not window.jobs.busy


def _write(results: dict, out_dir: Path) -> None:
    import numpy as np

    from core.render import overlay, save_png

    for method, result in results.items():
        if result.map.shape != result.image.shape[:2] or not np.isfinite(result.map).all():
            raise RuntimeError(f"{method}: unexpected result")
        save_png(out_dir / f"selftest_{method}.png", overlay(result.image, result.map))
