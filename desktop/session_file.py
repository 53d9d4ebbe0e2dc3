"""Session files (File → Save session / Open session, ``saliency-studio --open FILE``): a small
JSON with the model spec, image, class, layer, method, parameters and workspace; and the list
of recently used files kept in QSettings."""

from __future__ import annotations

import json
from pathlib import Path

FORMAT = "saliency-studio session"
VERSION = 1
SUFFIX = ".saliency.json"
RECENT_KEY = "recent_files"
RECENT_MAX = 10


def write_session(path: str | Path, data: dict) -> Path:
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **data}
    if payload.get("image"):  # relative to the session file when it lies below it: the pair can move
        image = Path(payload["image"]).resolve()
        try:
            payload["image"] = str(image.relative_to(path.resolve().parent))
        except ValueError:
            payload["image"] = str(image)
    path.write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def read_session(path: str | Path) -> dict:
    """The session's fields, or ``ValueError`` with a sentence saying what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} is not a readable session file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path.name} is not a Saliency Studio session file")
    if int(data.get("version", 0)) > VERSION:
        raise ValueError(f"{path.name} was written by a newer Saliency Studio (version {data['version']})")
    if data.get("image") and not Path(data["image"]).is_absolute():
        data["image"] = str((path.parent / data["image"]).resolve())
    if data.get("model") is not None and not isinstance(data["model"], dict):
        raise ValueError(f"{path.name}: 'model' must be an object with a 'spec'")
    return data


def recent_files(settings) -> list[str]:
    value = settings.value(RECENT_KEY, [])
    if isinstance(value, str):
        value = [value]
    return [v for v in (value or []) if Path(v).exists()]


def add_recent(settings, path: str | Path) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files(settings) if f != path]
    settings.setValue(RECENT_KEY, files[:RECENT_MAX])
    return files[:RECENT_MAX]
