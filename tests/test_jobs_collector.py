"""The JobRunner keeps Python's garbage collector off whenever a worker thread may run Python: a
collection there can delete Qt wrappers off the GUI thread (desktop.jobs). Both races are forced
here by holding a worker at the exact point where it used to run with the collector on."""

import gc
import threading
import time

import pytest

from desktop.jobs import JobRunner

WAIT = 10_000


@pytest.fixture
def runner(qapp):
    gc.enable()
    r = JobRunner()
    yield r
    r.shutdown()


def test_collector_stays_off_until_the_worker_has_left_its_loop(qtbot, runner):
    """The interactive worker has marked its job done (the lane looks idle) but not yet sent the
    result; the background lane's job ends meanwhile: the collector must stay off."""
    lane = runner._lanes["interactive"]
    reached, release, gate = threading.Event(), threading.Event(), threading.Event()
    original_done = lane.done

    def done_then_pause():
        original_done()
        reached.set()
        release.wait(WAIT / 1000)  # still inside the worker's loop, about to emit the result

    lane.done = done_then_pause
    ended = []
    try:
        runner.submit("slow", lambda progress: gate.wait(WAIT / 1000), lane="background", on_done=ended.append)
        runner.submit("quick", lambda progress: "quick", on_done=ended.append)
        assert reached.wait(WAIT / 1000) and not gc.isenabled()
        gate.set()
        qtbot.waitUntil(lambda: len(ended) == 1, timeout=WAIT)  # the background end, on the GUI thread
        assert not runner.busy  # both lanes look idle to the window ...
        assert not gc.isenabled()  # ... yet the interactive worker still runs Python: the collector stays off
    finally:
        gate.set()
        release.set()
    qtbot.waitUntil(lambda: len(ended) == 2, timeout=WAIT)
    qtbot.waitUntil(gc.isenabled, timeout=WAIT)  # on again once the worker has left its loop


class _SlowRelease:
    """A lane lock whose release, on the GUI thread, hands the GIL to the worker for a moment."""

    def __init__(self, lock):
        self.lock, self.armed = lock, False

    def __enter__(self):
        return self.lock.__enter__()

    def __exit__(self, *exc):
        self.lock.__exit__(*exc)
        if self.armed and threading.current_thread() is threading.main_thread():
            time.sleep(0.2)


def test_a_job_never_starts_with_the_collector_on(qtbot, runner):
    """The worker is still in its loop when the next job is queued and takes it at once, before
    ``submit`` returns: the collector must already be off when the job starts."""
    lane = runner._lanes["interactive"]
    lane.lock = _SlowRelease(lane.lock)
    original_next = lane.next
    stop = threading.Event()

    def next_when_queued():  # keep the worker in its loop, looking for work
        deadline = time.monotonic() + WAIT / 1000
        while not stop.is_set() and time.monotonic() < deadline:
            with lane.lock:
                if lane.queue:
                    break
            time.sleep(0.001)
        return original_next()

    lane.next = next_when_queued
    seen = []
    try:
        runner.submit("first", lambda progress: "first", on_done=seen.append)
        qtbot.waitUntil(lambda: seen == ["first"], timeout=WAIT)
        time.sleep(0.05)  # the collector would be back on by now (old code), with the worker still looping
        lane.lock.armed = True
        runner.submit("second", lambda progress: gc.isenabled(), on_done=seen.append)
    finally:
        lane.lock.armed = False
        stop.set()
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=WAIT)
    assert seen[1] is False  # the job found the collector off
