"""Rendering maps: display ranges, colormaps, overlays, PNG export.

Maps are stored raw; normalising is a display choice made here. Signed maps (clearly negative
and clearly positive values) use a symmetric range around zero and a diverging colormap, so
that zero stays neutral. The desktop canvas colours through the same functions, so a CLI
export and the screen agree for the same colormap.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

DEFAULT_CMAP = "viridis"
DIVERGING_CMAP = "coolwarm"
DIVERGING = frozenset({"coolwarm"})
SIGNED_TOLERANCE = 0.05  # the smaller side must reach 5 % of the larger one to count as signed
MIN_WEIGHT = 0.15  # per-pixel overlay weight of the weakest values

_CV2 = {"viridis": cv2.COLORMAP_VIRIDIS, "inferno": cv2.COLORMAP_INFERNO, "magma": cv2.COLORMAP_MAGMA,
        "turbo": cv2.COLORMAP_TURBO, "jet": cv2.COLORMAP_JET, "hot": cv2.COLORMAP_HOT}
# Name → description; the first one is the default. Perceptually uniform maps come first.
COLORMAPS = {"viridis": "perceptually uniform (default)", "inferno": "perceptually uniform",
             "magma": "perceptually uniform", "coolwarm": "diverging blue-white-red, for signed maps",
             "turbo": "rainbow", "jet": "rainbow (not uniform)", "hot": "black-red-yellow-white"}


# --- colormap tables -------------------------------------------------------------------------

_WHITE = np.array([0.95047, 1.0, 1.08883])  # D65


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    lin = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    t = (m @ lin) / _WHITE
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    fy = (lab[0] + 16) / 116
    f = np.array([fy + lab[1] / 500, fy, fy - lab[2] / 200])
    t = np.where(f > 0.206893, f ** 3, (f - 16 / 116) / 7.787) * _WHITE
    m = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    lin = np.clip(m @ t, 0, 1)
    c = np.where(lin > 0.0031308, 1.055 * lin ** (1 / 2.4) - 0.055, 12.92 * lin)
    return np.clip(c * 255, 0, 255)


def _msh(rgb) -> np.ndarray:
    lab = _srgb_to_lab(np.asarray(rgb, float))
    m = np.linalg.norm(lab)
    return np.array([m, np.arccos(lab[0] / m), np.arctan2(lab[2], lab[1])])


def _msh_to_srgb(msh: np.ndarray) -> np.ndarray:
    m, s, h = msh
    return _lab_to_srgb(np.array([m * np.cos(s), m * np.sin(s) * np.cos(h), m * np.sin(s) * np.sin(h)]))


def _diverging(low_rgb, high_rgb, n: int = 256) -> np.ndarray:
    """Moreland's diverging colormap: interpolate in Msh space through an unsaturated middle."""
    lo, hi = _msh(low_rgb), _msh(high_rgb)
    mid = np.array([max(lo[0], hi[0], 88.0), 0.0, 0.0])
    rows = []
    for t in np.linspace(0.0, 1.0, n):
        a, b, u = (lo, mid, 2 * t) if t < 0.5 else (mid, hi, 2 * t - 1)
        sat, m_unsat = (a, b[0]) if b[1] < 0.05 else (b, a[0])
        spin = sat[1] * np.sqrt(max(m_unsat ** 2 - sat[0] ** 2, 0.0)) / (sat[0] * np.sin(sat[1]))
        hue = sat[2] + spin if sat[2] > -np.pi / 3 else sat[2] - spin
        a = a if a[1] >= 0.05 else np.array([a[0], a[1], hue])
        b = b if b[1] >= 0.05 else np.array([b[0], b[1], hue])
        rows.append(_msh_to_srgb((1 - u) * a + u * b))
    return np.round(np.array(rows)).astype(np.uint8)


@lru_cache(maxsize=None)
def _table(cmap: str) -> np.ndarray:
    if cmap == "coolwarm":
        table = _diverging((59, 76, 192), (180, 4, 38))
    else:
        gray = np.arange(256, dtype=np.uint8).reshape(256, 1)
        table = cv2.cvtColor(cv2.applyColorMap(gray, _CV2[cmap]), cv2.COLOR_BGR2RGB).reshape(256, 3)
    table.setflags(write=False)
    return table


def lut(cmap: str = DEFAULT_CMAP) -> np.ndarray:
    """The 256×3 RGB uint8 table of a colormap (read-only)."""
    if cmap not in COLORMAPS:
        raise ValueError(f"colormap must be one of {', '.join(COLORMAPS)}")
    return _table(cmap)


def resolve_cmap(cmap: str, signed: bool) -> str:
    """The colormap actually used: signed maps always get a diverging one."""
    lut(cmap)
    return cmap if not signed or cmap in DIVERGING else DIVERGING_CMAP


# --- ranges ----------------------------------------------------------------------------------

def _finite(attr_map: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(attr_map, dtype=np.float32), posinf=0.0, neginf=0.0)


def is_signed(attr_map: np.ndarray, tolerance: float = SIGNED_TOLERANCE) -> bool:
    """True when the map has clearly negative and clearly positive values."""
    m = _finite(attr_map)
    if m.size == 0:
        return False
    neg, pos = -float(m.min()), float(m.max())
    return neg > 0 and pos > 0 and min(neg, pos) >= tolerance * max(neg, pos)


def value_range(*maps: np.ndarray) -> tuple[float, float]:
    """(min, max) over one or more raw maps: the range a colour bar shows, or a shared scale."""
    finite = [_finite(m) for m in maps if np.size(m)]
    if not finite:
        raise ValueError("no map values")
    return float(min(m.min() for m in finite)), float(max(m.max() for m in finite))


def display_range(attr_map: np.ndarray, percentile: float = 99.5, signed: bool | None = None,
                  shared: tuple[float, float] | None = None) -> tuple[float, float, bool]:
    """(lo, hi, signed): the raw values drawn with the first and the last colour.

    Unsigned maps run from their minimum to a high percentile; signed maps from -h to +h with h a
    high percentile of |map|, so zero is the middle colour. ``shared`` replaces the map's own
    range with a fixed one (a comparison grid on one scale)."""
    m = _finite(attr_map)
    if signed is None:
        signed = is_signed(m)
    if shared is not None:
        lo, hi = float(shared[0]), float(shared[1])
        if signed:
            h = max(abs(lo), abs(hi)) or 1.0
            return -h, h, True
        return (lo, hi, False) if hi > lo else (lo, lo + 1.0, False)
    if m.size == 0:
        return (-1.0, 1.0, True) if signed else (0.0, 1.0, False)
    if signed:
        a = np.abs(m)
        h = float(np.percentile(a, percentile)) or float(a.max()) or 1.0
        return -h, h, True
    lo, hi = float(m.min()), float(np.percentile(m, percentile))
    if hi <= lo:
        hi = float(m.max())
    return (lo, hi, False) if hi > lo else (lo, lo + 1.0, False)


def rescale(attr_map: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Raw values → [0, 1] between lo and hi (clipped)."""
    return np.clip((_finite(attr_map) - lo) / (hi - lo), 0.0, 1.0)


def normalize(attr_map: np.ndarray, percentile: float = 99.5, signed: bool | None = None,
              shared: tuple[float, float] | None = None) -> np.ndarray:
    """Map values to [0, 1] for display (see ``display_range``); 0.5 means zero for signed maps."""
    lo, hi, _ = display_range(attr_map, percentile, signed, shared)
    return rescale(attr_map, lo, hi)


def to_index(normalized: np.ndarray) -> np.ndarray:
    """[0, 1] → colormap row 0..255 (rounded, so 0.5 lands on the middle row 128)."""
    return np.floor(np.clip(normalized, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def weights(normalized: np.ndarray, signed: bool) -> np.ndarray:
    """Per-pixel overlay weight in [MIN_WEIGHT, 1]: strong values cover the image more; for a
    signed map strength is the distance from zero."""
    strength = np.abs(2 * normalized - 1) if signed else normalized
    return np.clip(strength, MIN_WEIGHT, 1.0).astype(np.float32)


# --- images ----------------------------------------------------------------------------------

def colorize(attr_map: np.ndarray, cmap: str = DEFAULT_CMAP, signed: bool | None = None,
             shared: tuple[float, float] | None = None) -> np.ndarray:
    """H×W map → H×W×3 RGB uint8 (signed maps through the diverging colormap)."""
    lo, hi, signed = display_range(attr_map, signed=signed, shared=shared)
    return lut(resolve_cmap(cmap, signed))[to_index(rescale(attr_map, lo, hi))]


def rgba(attr_map: np.ndarray, cmap: str = DEFAULT_CMAP, signed: bool | None = None,
         shared: tuple[float, float] | None = None) -> np.ndarray:
    """H×W×4 uint8: the colorized map with its per-pixel weight as alpha (what the canvas shows)."""
    lo, hi, signed = display_range(attr_map, signed=signed, shared=shared)
    n = rescale(attr_map, lo, hi)
    alpha = np.round(255 * weights(n, signed)).astype(np.uint8)[..., None]
    return np.concatenate([lut(resolve_cmap(cmap, signed))[to_index(n)], alpha], axis=-1)


def blend(image: np.ndarray, rgba_map: np.ndarray, alpha: float) -> np.ndarray:
    """Composite an RGBA layer at overall opacity ``alpha`` over an RGB uint8 image."""
    a = alpha * rgba_map[..., 3:4].astype(np.float32) / 255.0
    out = (1 - a) * image.astype(np.float32) + a * rgba_map[..., :3].astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, attr_map: np.ndarray, alpha: float = 0.5, cmap: str = DEFAULT_CMAP,
            signed: bool | None = None, shared: tuple[float, float] | None = None) -> np.ndarray:
    """Blend a colorized map over an RGB uint8 image of the same size, as the canvas shows it."""
    if image.shape[:2] != np.shape(attr_map):
        raise ValueError(f"map {np.shape(attr_map)} and image {image.shape[:2]} differ in size")
    return blend(image, rgba(attr_map, cmap, signed, shared), alpha)


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
