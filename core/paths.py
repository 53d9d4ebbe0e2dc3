"""The one module that owns the user's folders: logs, caches, settings, data.

Platform conventions (XDG on Linux, ~/Library on macOS, %LOCALAPPDATA% on Windows), or one root
for everything when ``SALIENCY_STUDIO_HOME`` is set (tests and portable installs). Nothing else
in the project invents a path under the home folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

APP = "saliency-studio"
ENV_ROOT = "SALIENCY_STUDIO_HOME"


@dataclass(frozen=True)
class UserDirs:
    """Where the application keeps things; each folder is created on first use."""

    data: Path
    cache: Path
    logs: Path
    config: Path

    def ensure(self) -> "UserDirs":
        for folder in (self.data, self.cache, self.logs, self.config):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def user_dirs() -> UserDirs:
    """The user's folders for this platform (or under ``$SALIENCY_STUDIO_HOME``), created."""
    root = os.environ.get(ENV_ROOT)
    if root:
        base = Path(root).expanduser()
        return UserDirs(base / "data", base / "cache", base / "logs", base / "config").ensure()
    home = Path.home()
    if sys.platform == "win32":
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / APP
        roaming = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / APP
        return UserDirs(local / "data", local / "cache", local / "logs", roaming).ensure()
    if sys.platform == "darwin":
        lib = home / "Library"
        return UserDirs(lib / "Application Support" / APP, lib / "Caches" / APP, lib / "Logs" / APP,
                        lib / "Preferences" / APP).ensure()

    def xdg(var: str, default: Path) -> Path:
        value = os.environ.get(var)
        return (Path(value) if value else default) / APP

    state = xdg("XDG_STATE_HOME", home / ".local" / "state")
    return UserDirs(xdg("XDG_DATA_HOME", home / ".local" / "share"), xdg("XDG_CACHE_HOME", home / ".cache"),
                    state / "logs", xdg("XDG_CONFIG_HOME", home / ".config")).ensure()


def cache_dir(*parts: str) -> Path:
    """A sub-folder of the cache (e.g. ``cache_dir("sanity")``), created."""
    folder = user_dirs().cache.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
