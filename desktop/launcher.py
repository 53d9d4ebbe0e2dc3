"""Entry point of the packaged (frozen) application.

Windowed builds have no console: stdout/stderr go to a log file in the user's home folder.
``--self-test`` runs the offscreen self-test and exits with its status.
"""

import multiprocessing
import os
import sys
from pathlib import Path


def _log_without_console() -> None:
    if sys.stdout is None or sys.stderr is None:
        folder = Path.home() / ".saliency-studio"
        folder.mkdir(parents=True, exist_ok=True)
        log = open(folder / "saliency-studio.log", "a", buffering=1, encoding="utf-8")
        sys.stdout = sys.stdout or log
        sys.stderr = sys.stderr or log


def run() -> int:
    multiprocessing.freeze_support()
    _log_without_console()
    if getattr(sys, "frozen", False):  # resources/ travel next to the executable's modules
        os.environ.setdefault("SALIENCY_STUDIO_FROZEN", "1")
    from core.cli import main

    return main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(run())
