"""Background jobs on a private copy of the session's model.

A long run in the background lane must not share forward hooks with the interactive lane's
captures, so it works on ``adapters.private_copy(bundle)``. The copy itself is made *in the
interactive lane*: that lane is where the session's model is changed (hooks installed and removed
by captures, the fused twin built), and a deep copy taken on another thread while that happens
fails with "dictionary changed size during iteration". Queued there, the copy waits for the
running interactive job and never overlaps it; the background job, queued at once (so the lane
shows it), waits for the copy before it starts its work."""

from __future__ import annotations

import threading
from typing import Any, Callable

from core.jobs import Cancelled

from . import adapters

COPY = "model copy"


def submit_on_copy(jobs, bundle, kind: str, work: Callable[[Any, Any], Any], **callbacks) -> int:
    """Queue ``work(progress, copy)`` as ``kind`` in the background lane at once (its id is
    returned); the job first waits for the copy, which the interactive lane makes. ``callbacks``:
    ``on_done``, ``on_error``, ``on_cancel`` as for ``JobRunner.submit``."""
    made = threading.Event()
    box: dict[str, Any] = {}

    def copy(progress):
        try:
            box["copy"] = adapters.private_copy(bundle)
        except Exception as exc:  # noqa: BLE001 - handed to the background job, which reports it
            box["error"] = exc
        finally:
            made.set()

    def job(progress):
        while not made.wait(0.05):
            progress.check()  # cancelled while the copy waits its turn
        if "error" in box:
            raise box["error"]
        if "copy" not in box:
            raise Cancelled("the copy of the model was cancelled")
        return work(progress, box.pop("copy"))

    job_id = jobs.submit(kind, job, False, lane="background", **callbacks)
    jobs.submit(COPY, copy, False, on_cancel=made.set)
    return job_id
