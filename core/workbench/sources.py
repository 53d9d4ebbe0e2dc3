"""Where a dataset run reads its images: an ImageFolder tree, a CSV, a ``ground_truth.json``
(the demo folder's format) or a plain folder of images (unlabelled).

Every image becomes an ``Item``: ``file`` exactly as the source gives it (the CSV cell, the JSON
entry, or the folder argument joined with the relative path), the absolute ``path`` to read,
the class index or ``None``, an optional box (x0, y0, x1, y1, original pixels, x1/y1 exclusive)
and mask file. Entries that cannot be used (an unknown class, a missing file, a bad box) are
listed in ``Source.skipped`` with the reason; images that fail to decode are skipped later, by
the run, in the same way. Nothing here decodes an image.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..images import IMAGE_SUFFIXES

GROUND_TRUTH = "ground_truth.json"
SOURCE_KINDS = ("imagefolder", "csv", "ground_truth", "folder")


@dataclass(frozen=True)
class Item:
    """One image of a run (see the module docstring)."""

    file: str
    path: str
    label: int | None = None
    box: tuple[int, int, int, int] | None = None
    mask: str | None = None


@dataclass
class Source:
    """The usable items, the skipped entries ({"file", "reason"}) and what kind of source it was."""

    kind: str
    items: list[Item] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def labelled(self) -> bool:
        return any(item.label is not None for item in self.items)


def class_index(name: str, classes: list[str]) -> int:
    """A class given by name (case-insensitive) or by index; ``ValueError`` otherwise."""
    text = str(name).strip()
    lowered = [c.lower() for c in classes]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    if text.lstrip("-").isdigit() and 0 <= int(text) < max(len(classes), 1):
        return int(text)
    example = ", ".join(classes[:6])
    raise ValueError(f"label {text!r} is not a class of this model" + (f" (e.g. {example})" if example else ""))


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_mask")


def _parse_box(values) -> tuple[int, int, int, int]:
    box = tuple(int(round(float(v))) for v in values)
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"box {list(values)} is not x0,y0,x1,y1 with x1 > x0 and y1 > y0")
    return box


def read_source(data: str | Path, classes: list[str] | None = None) -> Source:
    """Items of ``data``: a CSV file, a ``ground_truth.json`` (or a folder holding one), a folder
    with one sub-folder per class, or a folder of images without labels."""
    classes = list(classes or [])
    root = Path(data)
    if root.is_file() and root.suffix.lower() == ".csv":
        source = _read_csv(root, str(data), classes)
    elif root.is_file() and root.suffix.lower() == ".json":
        source = _read_ground_truth(root, str(data), classes)
    elif root.is_dir() and (root / GROUND_TRUTH).is_file():
        source = _read_ground_truth(root / GROUND_TRUTH, str(data), classes)
    elif root.is_dir() and any(p.is_dir() for p in root.iterdir()):
        source = _read_image_folder(root, str(data), classes)
    elif root.is_dir():
        files = sorted(p for p in root.iterdir() if _is_image(p))
        source = Source("folder", [Item(_given(str(data), p.name), str(p.resolve())) for p in files])
    elif not root.exists():
        raise FileNotFoundError(f"{data}: no such file or folder")
    else:
        raise ValueError(f"{data}: expected a folder (one sub-folder per class, a ground_truth.json, or images) "
                         "or a CSV of file,label")
    if not source.items:
        raise ValueError(f"{data}: no usable images found" +
                         (f" ({len(source.skipped)} skipped, e.g. {source.skipped[0]['reason']})"
                          if source.skipped else ""))
    return source


def _given(prefix: str, relative: str) -> str:
    """The folder argument as typed, joined with a path inside it."""
    return str(Path(prefix) / relative)


def _read_image_folder(root: Path, given: str, classes: list[str]) -> Source:
    source = Source("imagefolder")
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in sub.iterdir() if _is_image(p))
        try:
            index = class_index(sub.name, classes) if classes else None
        except ValueError as exc:
            source.skipped += [{"file": _given(given, f"{sub.name}/{p.name}"), "reason": str(exc)} for p in files]
            continue
        if index is None:
            raise ValueError(f"{given}: the class folders need the model's class names to be read")
        source.items += [Item(_given(given, f"{sub.name}/{p.name}"), str(p.resolve()), index) for p in files]
    return source


def _read_csv(path: Path, given: str, classes: list[str]) -> Source:
    """Columns ``file`` and optionally ``label``, ``x0,y0,x1,y1`` and ``mask`` (paths relative to
    the CSV). A file without a header is read as file,label."""
    source = Source("csv")
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        return source
    header = [c.strip().lower() for c in rows[0]]
    if "file" in header:
        body = rows[1:]
    else:
        header, body = ["file", "label"][:max(1, len(rows[0]))], rows
    col = {name: i for i, name in enumerate(header)}
    box_cols = [col.get(k) for k in ("x0", "y0", "x1", "y1")]
    for row in body:
        cell = lambda name: row[col[name]].strip() if name in col and col[name] < len(row) else ""  # noqa: E731
        file = cell("file")
        if not file:
            continue
        try:
            target = (path.parent / file).resolve()
            if not target.is_file():
                raise ValueError(f"{file}: no such file")
            label = class_index(cell("label"), classes) if cell("label") else None
            box = None
            if all(c is not None for c in box_cols) and any(row[c].strip() for c in box_cols if c < len(row)):
                box = _parse_box([row[c] if c < len(row) else "" for c in box_cols])
            mask = None
            if cell("mask"):
                mask_path = (path.parent / cell("mask")).resolve()
                if not mask_path.is_file():
                    raise ValueError(f"mask {cell('mask')}: no such file")
                mask = str(mask_path)
        except ValueError as exc:
            source.skipped.append({"file": file, "reason": str(exc)})
            continue
        source.items.append(Item(file, str(target), label, box, mask))
    return source


def _read_ground_truth(path: Path, given: str, classes: list[str]) -> Source:
    """The demo format: {"classes": [...], "images": [{"file", "label" or "class", "box", "mask"}]};
    files and masks relative to the JSON file. ``file`` is the entry as written, joined with the
    folder argument when a folder was given."""
    source = Source("ground_truth")
    data = json.loads(path.read_text())
    entries = data.get("images", []) if isinstance(data, dict) else data
    folder_given = Path(given).is_dir()
    for entry in entries:
        name = str(entry.get("file", "")).strip()
        if not name:
            continue
        file = _given(given, name) if folder_given else name
        try:
            target = (path.parent / name).resolve()
            if not target.is_file():
                raise ValueError(f"{name}: no such file")
            label = entry.get("label")
            if label is None and entry.get("class") is not None:
                label = class_index(entry["class"], classes)
            elif label is not None:
                label = class_index(str(label), classes) if classes else int(label)
            box = _parse_box(entry["box"]) if entry.get("box") else None
            mask = str((path.parent / entry["mask"]).resolve()) if entry.get("mask") else None
            if mask is not None and not Path(mask).is_file():
                raise ValueError(f"mask {entry['mask']}: no such file")
        except (ValueError, TypeError) as exc:
            source.skipped.append({"file": file, "reason": str(exc)})
            continue
        source.items.append(Item(file, str(target), label, box, mask))
    return source
