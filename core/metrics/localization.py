"""Localisation: does the map point at the object?

* Bounding box from a map (Zhou et al. 2016 §3; Selvaraju et al. 2017 §4.1): keep pixels above
  a fraction of the map's maximum (20% in CAM, 15% in Grad-CAM), take the largest connected
  component, box it. IoU with the ground-truth box; top-1 localisation = right class and IoU ≥ 0.5.
* Pointing game (Zhang et al. 2016, §5.1 as in TorchRay): a hit when the map's maximum lies
  strictly less than ``tolerance`` (15 px) from a ground-truth pixel.
* Energy-based pointing game (Wang et al. 2020, Score-CAM §5.2): share of the map's positive
  energy inside the box.

Boxes are (x0, y0, x1, y1) with x the column, y the row, x1 / y1 exclusive.
"""

from __future__ import annotations

import cv2
import numpy as np

from .common import MetricResult


def _np(attr_map) -> np.ndarray:
    arr = attr_map.detach().cpu().numpy() if hasattr(attr_map, "detach") else np.asarray(attr_map)
    return np.nan_to_num(arr.astype(np.float32))


def box_from_map(attr_map, threshold: float = 0.15) -> tuple[int, int, int, int] | None:
    """Box of the largest connected component of ``map ≥ threshold · max(map)`` (None if empty)."""
    m = _np(attr_map)
    peak = m.max()
    if peak <= 0:
        return None
    binary = (m >= threshold * peak).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(stats[largest, k]) for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH,
                                                   cv2.CC_STAT_HEIGHT))
    return x, y, x + w, y + h


def iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    if a is None or b is None:
        return 0.0
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def localization(attr_map, gt_box, threshold: float = 0.15, predicted: int | None = None,
                 label: int | None = None) -> MetricResult:
    """IoU of the map's box with ``gt_box``; ``top1_localization`` when both classes are given."""
    box = box_from_map(attr_map, threshold)
    value = iou(box, tuple(gt_box))
    details = {"box": list(box) if box else None, "threshold": threshold}
    if predicted is not None and label is not None:
        details["top1_localization"] = bool(predicted == label and value >= 0.5)
    return MetricResult("iou", value, None, details)


def pointing_game(attr_map, gt_mask, tolerance: float = 15.0, geometry=None) -> MetricResult:
    """Hit (1.0) when the map's maximum is < ``tolerance`` px from the nearest ground-truth pixel
    (Zhang et al. 2016, §5.1).

    Without ``geometry`` the mask is in the map's own (model-input) coordinates. With
    ``geometry = (scale_x, scale_y, left, top)`` (``Preprocess.geometry``) the mask is in the
    original image and the maximum is mapped back to it, so the tolerance is in original pixels
    — the protocol of the paper and of TorchRay."""
    m = _np(attr_map)
    mask = np.asarray(gt_mask, dtype=bool)
    y, x = np.unravel_index(int(np.argmax(m)), m.shape)
    if not mask.any():
        raise ValueError("the ground-truth mask is empty")
    px, py, space = int(x), int(y), "model input"
    if geometry is not None:
        sx, sy, left, top = geometry
        px = int(np.clip(np.floor((x + 0.5 + left) / sx), 0, mask.shape[1] - 1))
        py = int(np.clip(np.floor((y + 0.5 + top) / sy), 0, mask.shape[0] - 1))
        space = "original image"
    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[py, px]
    return MetricResult("pointing_game", float(distance < tolerance), None,
                        {"point": [int(x), int(y)], "distance": float(distance), "tolerance": tolerance,
                         "space": space, "point_in_mask_coordinates": [px, py]})


def box_mask(shape: tuple[int, int], box) -> np.ndarray:
    """Boolean H×W mask of an (x0, y0, x1, y1) box."""
    mask = np.zeros(shape, bool)
    x0, y0, x1, y1 = (int(v) for v in box)
    mask[max(y0, 0):y1, max(x0, 0):x1] = True
    return mask


def energy_in_box(attr_map, gt_box) -> MetricResult:
    """Energy-based pointing game: Σ_{in box} max(map, 0) / Σ max(map, 0)."""
    m = np.maximum(_np(attr_map), 0)
    total = m.sum()
    inside = m[box_mask(m.shape, gt_box)].sum()
    return MetricResult("energy_in_box", float(inside / total) if total > 0 else 0.0)


def pointing_accuracy(hits: list[float], labels: list[int]) -> dict:
    """Overall and per-class pointing accuracy from per-image hits."""
    hits_a, labels_a = np.asarray(hits, float), np.asarray(labels)
    return {"overall": float(hits_a.mean()) if len(hits_a) else 0.0,
            "per_class": {int(c): float(hits_a[labels_a == c].mean()) for c in np.unique(labels_a)}}
