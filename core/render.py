"""Rendering maps: normalisation for display, colormaps, overlays, PNG export.

Maps are stored raw; normalising is a display choice made here. Signed maps use a
symmetric range around zero so that zero stays neutral.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

COLORMAPS = {"jet": cv2.COLORMAP_JET, "viridis": cv2.COLORMAP_VIRIDIS, "inferno": cv2.COLORMAP_INFERNO,
             "magma": cv2.COLORMAP_MAGMA, "turbo": cv2.COLORMAP_TURBO, "hot": cv2.COLORMAP_HOT,
             "coolwarm": cv2.COLORMAP_TWILIGHT_SHIFTED}


def normalize(attr_map: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """Map values to [0, 1] for display: unsigned maps from min to a high percentile;
    signed maps symmetrically, 0.5 meaning zero."""
    m = np.nan_to_num(np.asarray(attr_map, dtype=np.float32))
    if m.min() < 0 < m.max():
        hi = np.percentile(np.abs(m), percentile) or 1.0
        return np.clip(0.5 + 0.5 * m / hi, 0, 1)
    lo = m.min()
    hi = np.percentile(m, percentile)
    if hi <= lo:
        hi = m.max()
    return np.clip((m - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(m)


def colorize(attr_map: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """H×W map → H×W×3 RGB uint8 through a colormap (after ``normalize``)."""
    if cmap not in COLORMAPS:
        raise ValueError(f"colormap must be one of {', '.join(COLORMAPS)}")
    gray = (normalize(attr_map) * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(gray, COLORMAPS[cmap]), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, attr_map: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a colorized map over an RGB uint8 image of the same size."""
    if image.shape[:2] != attr_map.shape:
        raise ValueError(f"map {attr_map.shape} and image {image.shape[:2]} differ in size")
    heat = colorize(attr_map, cmap).astype(np.float32)
    return np.clip((1 - alpha) * image.astype(np.float32) + alpha * heat, 0, 255).astype(np.uint8)


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 array as PNG (creating folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path


def grid(panels: list[tuple[str, np.ndarray]], cols: int = 4, scale: int = 2, pad: int = 6) -> np.ndarray:
    """Side-by-side RGB panels of equal size with a caption above each (nearest-neighbour ×scale)."""
    if not panels:
        raise ValueError("no panels to lay out")
    h, w = panels[0][1].shape[:2]
    h, w = h * scale, w * scale
    caption = 22
    rows = (len(panels) + cols - 1) // cols
    cols = min(cols, len(panels))
    canvas = np.full((rows * (h + caption + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, (title, img) in enumerate(panels):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + caption + pad), pad + c * (w + pad)
        canvas[y + caption:y + caption + h, x:x + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
        cv2.putText(canvas, title, (x + 2, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return canvas
