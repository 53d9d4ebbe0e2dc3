"""The File menu's work: open an image or a session, save the session, recent files, step
through the images of a folder, export PNG / CSV / JSON. Talks to the Session; owns no state
beyond the recent-files list in QSettings."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from . import adapters, session_file


class FileActions(QObject):
    def __init__(self, window, session, settings, recent_menu):
        super().__init__(window)
        self.window, self.session, self.settings, self.recent_menu = window, session, settings, recent_menu
        self.fill_recent()

    def ask_image(self) -> None:
        pattern = " ".join(f"*{s}" for s in sorted(adapters.image_suffixes()))
        path, _ = QFileDialog.getOpenFileName(self.window, "Open an image", "", f"Images ({pattern});;All (*)")
        if path:
            self.open_file(path)

    def ask_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a session", "", "Sessions (*.json);;All (*)")
        if path:
            self.open_file(path)

    def ask_save_session(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save the session", f"session{session_file.SUFFIX}",
                                              "Sessions (*.json)")
        if path:
            self.save_session(path)

    def open_file(self, path) -> None:
        """An image or a session file (by suffix); remembered in Recent files."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            try:
                self.session.apply_dict(session_file.read_session(path))
            except ValueError as exc:
                self.session.notify("error", str(exc))
                return
        else:
            self.session.open_image(path)
        session_file.add_recent(self.settings, path)
        self.fill_recent()

    def save_session(self, path) -> Path:
        path = session_file.write_session(path, self.session.to_dict())
        session_file.add_recent(self.settings, path)
        self.fill_recent()
        self.session.say(f"session saved to {path}")
        return path

    def fill_recent(self) -> None:
        self.recent_menu.clear()
        for file in session_file.recent_files(self.settings):
            action = self.recent_menu.addAction(file)
            action.triggered.connect(lambda _=False, f=file: self.open_file(f))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    def step_image(self, step: int) -> None:
        current = self.session.image_path
        if current is None:
            return
        suffixes = adapters.image_suffixes()
        siblings = sorted(p for p in current.parent.iterdir()
                          if p.suffix.lower() in suffixes and not p.stem.endswith("_mask"))
        if current in siblings:
            self.session.open_image(siblings[(siblings.index(current) + step) % len(siblings)])

    def _export(self, title: str, default: str, filters: str, write) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, title, default, filters)
        if path:
            try:
                write(Path(path))
                self.session.say(f"written to {path}")
            except (OSError, ValueError) as exc:
                self.session.notify("error", f"{title} failed: {exc}")

    def export_overlay(self, canvas) -> None:
        from core.render import overlay, save_png

        result = self.session.result()

        def write(path):
            if result is None:
                raise ValueError("nothing to export yet: compute a map first")
            save_png(path, overlay(result.image, result.map, canvas.opacity, canvas.cmap))

        self._export("Export overlay", "overlay.png", "PNG (*.png)", write)

    def export_image(self, title: str, default: str, image) -> None:
        from core.render import save_png

        def write(path):
            if image is None:
                raise ValueError("nothing to export yet")
            save_png(path, image)

        self._export(title, default, "PNG (*.png)", write)

    def export_metrics(self, write) -> None:
        self._export("Export metrics", "metrics.csv", "CSV (*.csv);;JSON (*.json)", write)
