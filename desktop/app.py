"""Entry point of the desktop application: opens on the demo model, a demo image and Grad-CAM."""

from __future__ import annotations

import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
FIRST_IMAGE = RESOURCES / "images" / "demo" / "clean_star.png"


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1] + list(argv or []))
    app.setApplicationName("Saliency Studio")
    window = MainWindow()
    window.show()
    start(window)
    return app.exec()


def self_test(out_dir: str | Path | None = None) -> int:
    """Open the window offscreen, load the demo model, compute a gradient method, a CAM and a
    perturbation method through the job runner, write an overlay PNG; 0 when all worked."""
    import os
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    import numpy as np

    from core.render import overlay, save_png

    from .main_window import MainWindow

    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="saliency-studio-selftest-"))
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("Saliency Studio")
    window = MainWindow(QSettings(str(out_dir / "selftest-settings.ini"), QSettings.IniFormat))
    window.show()
    failures: list[str] = []
    window.jobs.failed.connect(lambda _id, kind, message, trace: failures.append(f"{kind}: {message}"))

    def wait_for(action, method: str | None = None, seconds: float = 300):
        """Run ``action`` and wait for the explanation of ``method`` (any, if None)."""
        loop, got = QEventLoop(), []

        def shown(result):
            if method is None or result.method == method:
                got.append(result)
                loop.quit()

        window.explanation_shown.connect(shown)
        window.jobs.failed.connect(loop.quit)
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        action()
        if not got:
            loop.exec()
        window.explanation_shown.disconnect(shown)
        window.jobs.failed.disconnect(loop.quit)
        if not got:
            raise RuntimeError(failures[-1] if failures else "timed out")
        return got[-1]

    try:
        wait_for(lambda: start(window))
        results = {}
        for method, params in (("saliency", {}), ("gradcam", {}), ("occlusion", {"window": 32, "stride": 16})):
            def run(m=method, p=params):
                window.methods.select(m)
                window.run_method(m, {**window.methods.params(), **p})
            results[method] = wait_for(run, method)
        for method, result in results.items():
            if result.map.shape != result.image.shape[:2] or not np.isfinite(result.map).all():
                raise RuntimeError(f"{method}: unexpected result")
            save_png(out_dir / f"selftest_{method}.png", overlay(result.image, result.map))
        print(f"self-test passed: overlays written to {out_dir}")
        return 0
    except Exception as exc:  # report, never hang or crash silently
        print(f"self-test FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        window.close()


def start(window, model: str = "demo", image: Path = FIRST_IMAGE) -> None:
    """Load ``model`` and ``image``; the window then computes the selected method (Grad-CAM)."""
    window.methods.select("gradcam")
    window.image_path = Path(image)
    window.load_model(model, "none")


if __name__ == "__main__":
    sys.exit(self_test() if "--self-test" in sys.argv else main(sys.argv[1:]))
