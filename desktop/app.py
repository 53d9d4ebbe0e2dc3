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


def start(window, model: str = "demo", image: Path = FIRST_IMAGE) -> None:
    """Load ``model`` and ``image``; the window then computes the selected method (Grad-CAM)."""
    window.methods.select("gradcam")
    window.image_path = Path(image)
    window.load_model(model, "none")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
