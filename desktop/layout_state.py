"""Window layout in QSettings: geometry, docks and each workspace's splitter, saved with a layout
version (a layout from another version is not restored), and the default layout (View → Reset
layout): fits the screen, the model dock on the left, the log hidden."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt

LAYOUT_VERSION = 2
DEFAULT_SIZE = (1280, 720)
DOCK_WIDTH = 250


def restore(window) -> None:
    settings = window.settings
    if int(settings.value("layout_version", 0)) != LAYOUT_VERSION:
        reset(window)
        return
    geometry, state = settings.value("geometry"), settings.value("state")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    if isinstance(state, QByteArray):
        window.restoreState(state, LAYOUT_VERSION)
    for name, workspace in window.workspaces.items():
        value = settings.value(f"splitter/{name}")
        if isinstance(value, QByteArray):
            workspace.splitter.restoreState(value)


def reset(window) -> None:
    screen = window.screen().availableGeometry() if window.screen() else None
    w, h = DEFAULT_SIZE if screen is None else (min(DEFAULT_SIZE[0], screen.width()),
                                                min(DEFAULT_SIZE[1], screen.height()))
    window.resize(w, h)
    window.model_dock.show()
    window.log_dock.hide()
    window.resizeDocks([window.model_dock], [DOCK_WIDTH], Qt.Horizontal)
    for workspace in window.workspaces.values():
        total = max(workspace.splitter.width(), w - DOCK_WIDTH - 10)
        workspace.splitter.setSizes([int(total * f) for f in workspace.default_split])


def save(window) -> None:
    settings = window.settings
    settings.setValue("layout_version", LAYOUT_VERSION)
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("state", window.saveState(LAYOUT_VERSION))
    for name, workspace in window.workspaces.items():
        settings.setValue(f"splitter/{name}", workspace.splitter.saveState())
    settings.sync()
