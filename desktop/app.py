"""Entry point of the desktop application: a splash at once, then the window (torch loads after
the splash is on screen), opening on the demo model, a demo image and the default method, or on
a saved session (``--open FILE``)."""

from __future__ import annotations

import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
FIRST_IMAGE = RESOURCES / "images" / "demo" / "clean_star.png"


def show_splash(app):
    """A splash drawn with Qt only (no pyqtgraph, no torch), on screen within a fraction of a second.
    A plain frameless label: QSplashScreen waits up to 1 s for the window manager to expose it."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    from .qt_compat import immortalize_singletons

    immortalize_singletons()
    splash = QLabel("<div style='font-size:22pt; font-weight:bold'>Saliency Studio</div>"
                    "<div style='color:#9aa0a6; margin-top:18px'>Loading the engine (PyTorch)…</div>")
    splash.setObjectName("splash")
    splash.setWindowFlags(Qt.SplashScreen | Qt.FramelessWindowHint | Qt.WindowStaysOnTopHint)
    splash.setAlignment(Qt.AlignCenter)
    splash.setStyleSheet("QLabel#splash { background: #202124; color: #e8eaed; border: 1px solid #5f6368; }")
    splash.resize(460, 200)
    screen = app.primaryScreen()
    if screen is not None:
        splash.move(screen.availableGeometry().center() - splash.rect().center())
    splash.show()
    app.processEvents()
    return splash


def build_window(app, splash=None, settings=None):
    """Import the window (this loads torch), show it and close the splash."""
    from .main_window import MainWindow

    window = MainWindow(settings)
    window.show()
    if splash is not None:
        splash.close()
    return window


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    argv = list(argv or [])
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Saliency Studio")
    window = build_window(app, show_splash(app))
    from .log_setup import install_excepthook

    install_excepthook(window.notifications.notify)  # an unexpected error is logged and shown, never a crash
    opened = Path(argv[argv.index("--open") + 1]) if "--open" in argv[:-1] else None
    if opened is not None and opened.suffix.lower() == ".json":
        window.files.open_file(opened)  # a saved session
    else:
        start(window, image=opened or FIRST_IMAGE)
    return app.exec()


def start(window, model: str = "demo", image: Path = FIRST_IMAGE) -> None:
    """Load ``model`` with ``image``; the default method then runs by itself (it is instant)."""
    from . import adapters

    window.session.set_method(adapters.DEFAULT_METHOD)
    window.session.load_model(model, "none", image=Path(image))


def self_test_methods() -> list[str]:
    """The default method and, per other family, its cheapest map-making method (registry)."""
    from . import adapters

    chosen = {adapters.method_spec(adapters.DEFAULT_METHOD).family: adapters.DEFAULT_METHOD}
    for name, spec in adapters.methods().items():
        if not adapters.makes_map(spec):
            continue
        best = chosen.get(spec.family)
        if best is None or (best != adapters.DEFAULT_METHOD
                            and adapters.passes(spec) < adapters.passes(adapters.method_spec(best))):
            chosen[spec.family] = name
    return list(chosen.values())


def self_test(out_dir: str | Path | None = None, **limits) -> int:
    """Open the window offscreen, load the demo model, compute the default method and the
    cheapest method of each other family through the job runner, write an overlay PNG of each;
    0 when all worked. Every step has a time limit and a hung one ends the process with one line
    naming it and every thread's stack (``limits``: see ``desktop.selftest.run``)."""
    from .selftest import run

    return run(out_dir, **limits)


if __name__ == "__main__":
    sys.exit(self_test() if "--self-test" in sys.argv else main(sys.argv[1:]))
