"""Bias report: how much explanation energy falls on the object, and on a named region (such as
the corner where a spurious tag sits), per class. A model whose explanations concentrate on
the region far beyond its share of the image is flagged (cf. Selvaraju et al. 2017, §6).

``bias_over_folder`` runs it over an annotated folder (the demo ``ground_truth.json`` format):
the desktop's bias report and the CLI's ``bias`` command."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..explain import Explainer
from ..images import load_image
from ..jobs import Progress, ensure_progress
from ..messages import one_line
from ..methods import get_method
from ..metrics.localization import box_mask

ANNOTATIONS = "ground_truth.json"
TAG_PAD = 4  # pixels around the demo tag: Grad-CAM's coarse maps spill over its edge


@dataclass
class BiasReport:
    per_class: dict[int, dict[str, float]]
    object_share: float
    region_share: float | None
    region_enrichment: float | None
    flagged: bool
    reason: str
    method: str = ""  # the explanation method (``bias_over_folder``)
    region: tuple[int, int, int, int] | None = None  # the region box in map pixels, if any
    images: int = 0  # images in the report
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "reason"} of unreadable images

    def to_dict(self) -> dict:
        return {"per_class": self.per_class, "object_share": self.object_share, "region_share": self.region_share,
                "region_enrichment": self.region_enrichment, "flagged": self.flagged, "reason": self.reason,
                "method": self.method, "region": list(self.region) if self.region is not None else None,
                "images": self.images, "skipped": list(self.skipped)}


def bias_report(maps: list[np.ndarray], object_masks: list[np.ndarray], labels: list[int],
                region_box=None, enrichment_limit: float = 2.0, object_limit: float = 0.3) -> BiasReport:
    """Shares of positive map energy on each object mask and in ``region_box`` (x0, y0, x1, y1).

    Flagged when the region holds more than ``enrichment_limit`` times its area share of the
    energy, or (without a region) when less than ``object_limit`` of it lies on the objects.
    """
    rows: dict[int, list[tuple[float, float]]] = {}
    region_area = None
    for m, mask, label in zip(maps, object_masks, labels):
        pos = np.maximum(np.asarray(m, np.float64), 0)
        total = pos.sum() or 1.0
        obj = float(pos[np.asarray(mask, bool)].sum() / total)
        reg = float("nan")
        if region_box is not None:
            region = box_mask(pos.shape, region_box)
            region_area = region.mean()
            reg = float(pos[region].sum() / total)
        rows.setdefault(int(label), []).append((obj, reg))
    per_class = {k: {"object_share": float(np.mean([r[0] for r in v])),
                     "region_share": float(np.mean([r[1] for r in v])) if region_box is not None else None,
                     "images": len(v)} for k, v in sorted(rows.items())}
    all_rows = [r for v in rows.values() for r in v]
    object_share = float(np.mean([r[0] for r in all_rows]))
    if region_box is not None:
        region_share = float(np.mean([r[1] for r in all_rows]))
        enrichment = region_share / region_area if region_area else float("inf")
        flagged = bool(enrichment > enrichment_limit)
        reason = (f"{region_share:.1%} of the explanation energy lies in a region covering {region_area:.1%} of "
                  f"the image ({enrichment:.1f}× its share)")
    else:
        region_share = enrichment = None
        flagged = bool(object_share < object_limit)
        reason = f"{object_share:.1%} of the explanation energy lies on the objects"
    return BiasReport(per_class, object_share, region_share, enrichment, flagged, reason,
                      region=tuple(int(v) for v in region_box) if region_box is not None else None,
                      images=len(all_rows))


def parse_region(text: str | None):
    """``None``/``""``/``none`` → None, ``tag`` → "tag", ``x0,y0,x1,y1`` → a box of ints."""
    if text is None or text.strip().lower() in ("", "none"):
        return None
    if text.strip().lower() == "tag":
        return "tag"
    parts = [p.strip() for p in text.split(",")]
    try:
        box = tuple(int(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise ValueError(f"region must be 'tag' or x0,y0,x1,y1 in whole pixels, got {text!r}")
    return _check_box(box)


def _check_box(box) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"region {x0},{y0},{x1},{y1} is empty: need x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def region_box(region, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The region as a box in the pixels of an H×W map: ``None``; ``"tag"``, the demo's tag corner
    (``core.datasets.shapes.tag_box`` of the map width) padded by ``TAG_PAD``; ``x0,y0,x1,y1`` text;
    or a box (x1/y1 exclusive). Clipped to the map."""
    if isinstance(region, str):
        region = parse_region(region)
    if region is None:
        return None
    if region == "tag":
        from ..datasets.shapes import tag_box

        x0, y0, x1, y1 = tag_box(shape[1])
        return max(x0 - TAG_PAD, 0), max(y0 - TAG_PAD, 0), min(x1 + TAG_PAD, shape[1]), min(y1 + TAG_PAD, shape[0])
    if len(region) != 4:
        raise ValueError(f"region must be 'tag' or (x0, y0, x1, y1), got {region!r}")
    x0, y0, x1, y1 = _check_box(region)
    if x0 >= shape[1] or y0 >= shape[0] or x1 <= 0 or y1 <= 0:
        raise ValueError(f"region {x0},{y0},{x1},{y1} lies outside the {shape[1]}×{shape[0]} map")
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def _items(source) -> list[dict[str, Any]]:
    """One dict per annotated image: path, raw label, box, and mask (an array, a file, or None).
    ``source``: a folder holding ``ground_truth.json``, that JSON file, or ``{image path: Annotation}``."""
    if isinstance(source, Mapping):
        return [{"path": Path(p), "label": a.label, "box": a.box, "mask": a.mask} for p, a in source.items()]
    path = Path(source)
    if path.is_dir():
        path = path / ANNOTATIONS
        if not path.is_file():
            raise FileNotFoundError(f"{source}: no {ANNOTATIONS} (object masks and labels) in this folder")
    elif not path.is_file():
        raise FileNotFoundError(f"{source}: no such folder or annotation file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not readable annotations ({one_line(exc)})") from exc
    entries = data.get("images", []) if isinstance(data, dict) else data if isinstance(data, list) else []
    items = [{"path": path.parent / e["file"], "label": e.get("label"), "box": e.get("box"),
              "mask": path.parent / e["mask"] if e.get("mask") else None}
             for e in entries if isinstance(e, dict) and e.get("file")]
    if not items:
        raise ValueError(f"{path}: no annotated images (expected an \"images\" list of file/mask entries)")
    return items


def _label(raw, labels: list[str]) -> int | None:
    if raw is None or isinstance(raw, (int, np.integer)):
        return None if raw is None else int(raw)
    text = str(raw).strip()
    if text.lower() in (lab.lower() for lab in labels):
        return [lab.lower() for lab in labels].index(text.lower())
    if text.isdigit():
        return int(text)
    raise ValueError(f"label {raw!r} is not a class of this model")


def _object_mask(item: dict, shape: tuple[int, int]) -> np.ndarray:
    """The object mask in the original image's pixels: the mask file or array, else the box."""
    mask = item["mask"]
    if isinstance(mask, Path):
        read = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
        if read is None:
            raise ValueError(f"cannot read mask {mask.name}")
        mask = read > 127
    if mask is None:
        if not item["box"]:
            raise ValueError("no object mask or box in the annotations")
        return box_mask(shape, item["box"])
    mask = np.asarray(mask, bool)
    if mask.shape != shape:
        raise ValueError(f"mask is {mask.shape[1]}×{mask.shape[0]}, the image {shape[1]}×{shape[0]}")
    return mask


def bias_over_folder(bundle, folder_or_annotations, method: str = "gradcam", layer: str | None = None,
                     params: dict[str, Any] | None = None, region=None, progress: Progress | None = None,
                     seed: int = 0, enrichment_limit: float = 2.0, object_limit: float = 0.3) -> BiasReport:
    """Explain every annotated image (for its predicted class) with ``method`` and report where the
    energy lies (``bias_report``); labels missing from the annotations are the predictions.

    ``folder_or_annotations``: a folder with ``ground_truth.json``, such a JSON file (paths relative
    to it), or ``{image path: core.evaluate.Annotation}``. ``region``: None, ``"tag"``, ``"x0,y0,x1,y1"``
    or a box, in map pixels (see ``region_box``). An image, mask or label that cannot be read is
    skipped and listed in ``report.skipped`` with its reason; one step of ``progress`` per image."""
    spec = get_method(method)
    if spec.output == "image":
        raise ValueError(f"{method} synthesises an image; it has no map of each input")
    params = spec.resolve(params)
    if isinstance(region, str):
        region = parse_region(region)
    items = _items(folder_or_annotations)
    progress = ensure_progress(progress, len(items))
    maps, masks, labels, skipped = [], [], [], []
    box = None
    for item in items:
        progress.check()
        name = item["path"].name
        try:
            rgb = load_image(item["path"])
            mask = _object_mask(item, rgb.shape[:2])
            label = _label(item["label"], list(bundle.labels or []))
        except (OSError, ValueError) as exc:
            skipped.append({"file": str(item["path"]), "reason": one_line(exc)})
            progress.step(message=f"skipped {name}")
            continue
        explainer = Explainer(bundle, rgb)
        res = explainer.explain(method, layer=layer, params=params, seed=seed)
        if not maps:
            box = region_box(region, res.map.shape)
        maps.append(res.map)
        masks.append(bundle.preprocess.map_mask(mask))
        labels.append(label if label is not None else explainer.prediction[0][0])
        progress.step(message=name)
    if not maps:
        first = skipped[0]
        raise ValueError(f"{folder_or_annotations}: no readable images ({len(skipped)} skipped; "
                         f"{Path(first['file']).name}: {first['reason']})")
    report = bias_report(maps, masks, labels, box, enrichment_limit, object_limit)
    for index, row in report.per_class.items():
        row["label"] = bundle.label(index)
    report.method, report.skipped = method, skipped
    return report
