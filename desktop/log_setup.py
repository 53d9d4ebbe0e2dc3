"""The application's log file and its last line of defence against unexpected exceptions.

``setup_logging()`` writes every record of the ``saliency_studio`` logger (and of the root logger)
to a rotating file in the user's log folder (``core.paths``); ``log_failure`` records a failure
with its full traceback; ``make_excepthook`` builds a ``sys.excepthook`` that logs and notifies
instead of letting an exception end the application. Nothing is installed at import.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Callable

from core.paths import user_dirs

LOGGER_NAME = "saliency_studio"
LOG_FILE = "saliency-studio.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

logger = logging.getLogger(LOGGER_NAME)


def log_path() -> Path:
    """Where the log file is (in the user's log folder)."""
    return user_dirs().logs / LOG_FILE


def _our_handler() -> RotatingFileHandler | None:
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_saliency_studio", False):
            return handler
    return None


def setup_logging(level: int = logging.INFO, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> Path:
    """Install the rotating log file on the root logger (once; again only if the log folder
    changed) and return its path."""
    path = log_path()
    root = logging.getLogger()
    current = _our_handler()
    if current is not None:
        if Path(current.baseFilename) == path.resolve():
            return path
        root.removeHandler(current)
        current.close()
    handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    handler._saliency_studio = True
    root.addHandler(handler)
    if root.level > level:
        root.setLevel(level)
    return path


def flush_log() -> None:
    """Flush the log file (before reading it back, e.g. in tests)."""
    handler = _our_handler()
    if handler is not None:
        handler.flush()


def format_exception(exc_type, exc, tb) -> str:
    """The full traceback text of an exception."""
    return "".join(traceback.format_exception(exc_type, exc, tb)).rstrip()


def log_failure(message: str, traceback_text: str = "") -> None:
    """Record a failure with its full traceback at ERROR level."""
    text = message if not traceback_text else f"{message}\n{traceback_text.rstrip()}"
    logger.error(text)
    flush_log()


Notify = Callable[[str, str, str], object]  # (level, text, details), e.g. NotificationArea.notify


def make_excepthook(notify: Notify | None = None, fallback=None):
    """A ``sys.excepthook``: log the exception with its traceback and show it through
    ``notify("error", text, traceback)`` instead of crashing. Ctrl+C and exits pass to
    ``fallback`` (default ``sys.__excepthook__``); a failure while notifying is only logged."""
    fallback = fallback or sys.__excepthook__
    busy = threading.local()

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, (KeyboardInterrupt, SystemExit)):
            fallback(exc_type, exc, tb)
            return
        details = format_exception(exc_type, exc, tb)
        summary = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        log_failure(f"unexpected error: {summary}", details)
        if notify is None or getattr(busy, "active", False):
            return
        busy.active = True
        try:
            notify("error", f"Something went wrong: {summary}. The application is still running.",
                   f"{details}\n\nLog file: {log_path()}")
        except Exception:  # noqa: BLE001 - the hook must never raise
            logger.exception("could not show the error")
        finally:
            busy.active = False

    return hook


def install_excepthook(notify: Notify | None = None) -> Callable[[], None]:
    """Set ``sys.excepthook`` to ``make_excepthook(notify)``; returns a function that restores
    the previous hook."""
    previous = sys.excepthook
    sys.excepthook = make_excepthook(notify)

    def restore() -> None:
        sys.excepthook = previous

    return restore
