"""Small pictures of stored images as the model saw them (the preprocessing's resize and centre
crop), optionally with a method's stored map over them: for the HTML report and the app's
gallery. Maps are stored at ≤ 64×64 and upsampled bilinearly to the thumbnail."""

from __future__ import annotations

import cv2
import numpy as np

from ..images import ImageLoadError, load_image
from ..models.preprocess import Preprocess
from ..render import overlay

MISSING_GREY = 200


def preprocess_of(identity: dict | None) -> Preprocess | None:
    """The run's ``Preprocess`` from a store's identity (``RunStore.identity()``), or None."""
    pre = (identity or {}).get("preprocess")
    if not pre:
        return None
    return Preprocess(crop=tuple(pre["crop"]), resize=pre["resize"], mean=tuple(pre["mean"]), std=tuple(pre["std"]),
                      interpolation=pre.get("interpolation", "bilinear"), channels=pre.get("channels", 3),
                      channel_order=pre.get("channel_order", "rgb"))


def thumbnail(path: str, side: int, preprocess: Preprocess | None = None, attr_map: np.ndarray | None = None,
              alpha: float = 0.5) -> np.ndarray:
    """side×side×3 uint8: the image at ``path`` as the model saw it, with ``attr_map`` blended
    over it when given (an unreadable file gives a plain grey square)."""
    try:
        rgb = load_image(path)
    except (ImageLoadError, OSError):
        return np.full((side, side, 3), MISSING_GREY, np.uint8)
    display = preprocess.display_image(rgb) if preprocess is not None else rgb
    display = cv2.resize(display, (side, side), interpolation=cv2.INTER_AREA)
    if attr_map is None:
        return display
    m = cv2.resize(np.asarray(attr_map, np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    return overlay(display, m, alpha)
