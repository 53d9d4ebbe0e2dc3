"""Procedural "shapes in clutter" dataset with exact ground truth.

One filled shape per RGB uint8 image (``CLASSES``), at a random position,
scale, rotation and colour, on a cluttered background: a random smooth colour
gradient, a multi-octave noise texture, and distractor thin strokes (lines and
curves) plus small dots that are not class shapes. The object is painted last,
so nothing overwrites it; its colour is chosen far (in RGB) from the mean of
the background it lands on.

Ground truth per sample:

* ``label``: class index into ``CLASSES``.
* ``mask``: bool HxW, exactly the pixels painted by the object's fill call
  (the same ``cv2.fillPoly`` call, without anti-aliasing, is issued on the
  image and on the mask canvas, so ``image[mask] == color`` everywhere).
  The ring's hole is not part of its mask.
* ``box``: ``(x0, y0, x1, y1)`` int pixel coordinates, x = column, y = row,
  inclusive-exclusive: the tight bounding box of the mask, i.e.
  ``x0 = min col, y0 = min row, x1 = max col + 1, y1 = max row + 1``, so
  ``mask[y0:y1, x0:x1]`` contains every object pixel.
* ``scale``: the object's circumscribed diameter is 15-40 % of the image side.

Modes (the *same* images in all three; only the tag differs):

* ``"clean"``: no tag (``tag == -1``).
* ``"biased"``: a small square tag (12x12 px at size 128, 3 px margin, scaled
  with size; see ``tag_box``) in the top-left corner, coloured
  ``TAG_COLORS[label]``: a spurious feature perfectly correlated with the
  class, as in the bias experiment of Selvaraju et al. 2017, "Grad-CAM:
  Visual Explanations from Deep Networks via Gradient-based Localization",
  ICCV, Sec. 6.
* ``"counter"``: the tag has the colour of a different, wrong class
  (``(label + 1 + rng.integers(K - 1)) % K``), to expose a model that
  learned the tag instead of the shape.

Object placement always avoids the tag box (all modes): neither the mask nor
the box of the object intersects ``tag_box(size)``.

Determinism: ``generate(n, seed)`` draws labels (a balanced permutation of
``arange(n) % K``) from ``default_rng(seed)``, and sample ``i`` from
``sample_seed(seed, i)``, so ``generate(n, seed).images[i]`` equals
``sample(sample_seed(seed, i), labels[i], size, mode).image``.

Speed: ``generate(20000)`` at 128x128 takes 7.5-9 s, single process, on the
2-core dev box (~0.3 ms/image rendering; ~2.5 s of it is the kernel
first-touching the 1.3 GB of output arrays: images 0.98 GB + masks 0.33 GB).

numpy + OpenCV only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Union

import cv2
import numpy as np

__all__ = [
    "CLASSES",
    "TAG_COLORS",
    "MODES",
    "ShapesData",
    "Sample",
    "generate",
    "sample",
    "sample_seed",
    "tag_box",
]

CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")
K = len(CLASSES)

#: One clearly distinct, saturated RGB colour per class (index = class).
TAG_COLORS = (
    (255, 0, 0),      # circle   -> red
    (0, 255, 0),      # square   -> green
    (0, 0, 255),      # triangle -> blue
    (255, 255, 0),    # star     -> yellow
    (255, 0, 255),    # cross    -> magenta
    (0, 255, 255),    # ring     -> cyan
)

MODES = ("clean", "biased", "counter")

SCALE_RANGE = (0.15, 0.40)   # circumscribed diameter / image side
_SHIFT = 4                   # cv2 sub-pixel bits for polygon vertices
_ONE = 1 << _SHIFT
_MIN_CONTRAST = 140.0        # wanted RGB distance object colour <-> local bg


# --------------------------------------------------------------------------
# Shape outlines on the unit circle (circumradius 1, angle 0).
# Each class is a list of closed contours, filled with the even-odd rule.
def _ngon(n: int, r: float = 1.0, phase: float = 0.0) -> np.ndarray:
    t = phase + 2 * np.pi * np.arange(n) / n
    return r * np.stack([np.cos(t), np.sin(t)], axis=1)


def _star(points: int = 5, inner: float = 0.42) -> np.ndarray:
    t = -np.pi / 2 + np.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _cross(w: float = 0.3) -> np.ndarray:
    a = np.sqrt(1.0 - w * w)   # arm-end corners lie on the unit circle
    return np.array([
        (a, w), (w, w), (w, a), (-w, a), (-w, w), (-a, w),
        (-a, -w), (-w, -w), (-w, -a), (w, -a), (w, -w), (a, -w),
    ])


_OUTLINES = (
    [_ngon(64)],                                   # circle
    [_ngon(4, phase=np.pi / 4)],                   # square
    [_ngon(3, phase=-np.pi / 2)],                  # triangle
    [_star()],                                     # star
    [_cross()],                                    # cross
    [_ngon(64), _ngon(64, r=0.55)],                # ring (hole = inner)
)


# --------------------------------------------------------------------------
class Sample(NamedTuple):
    """One generated image and its ground truth (see module docstring)."""
    image: np.ndarray    # (H, W, 3) uint8 RGB
    label: int
    mask: np.ndarray     # (H, W) bool
    box: tuple           # (x0, y0, x1, y1), inclusive-exclusive
    tag: int             # class whose colour the tag has, -1 if no tag
    color: tuple         # object RGB colour
    center: tuple        # object centre (x, y), pixel-centre coordinates
    radius: float        # object circumradius in pixels


@dataclass
class ShapesData:
    """A generated split. Arrays are aligned along the first axis (N)."""
    images: np.ndarray   # (N, H, W, 3) uint8 RGB
    labels: np.ndarray   # (N,) int64
    masks: np.ndarray    # (N, H, W) bool
    boxes: np.ndarray    # (N, 4) int32 (x0, y0, x1, y1), inclusive-exclusive
    tags: np.ndarray     # (N,) int64, tag class or -1
    colors: np.ndarray   # (N, 3) uint8 object colours
    centers: np.ndarray  # (N, 2) float32 (x, y)
    radii: np.ndarray    # (N,) float32 circumradius in px
    classes: tuple = CLASSES
    mode: str = "clean"
    seed: int = 0

    def __len__(self) -> int:
        return len(self.labels)


def tag_box(size: int = 128) -> tuple:
    """Box ``(x0, y0, x1, y1)`` (inclusive-exclusive) of the corner tag.

    12x12 px with a 3 px margin at size 128, scaled with ``size``.
    """
    side = max(2, int(round(12 * size / 128)))
    m = max(1, int(round(3 * size / 128)))
    return (m, m, m + side, m + side)


def sample_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed of sample ``index`` of ``generate(n, seed)``."""
    return np.random.SeedSequence(seed, spawn_key=(index,))


# --------------------------------------------------------------------------
def _bspline3(t: np.ndarray) -> np.ndarray:
    """Uniform cubic B-spline kernel."""
    t = np.abs(t)
    return np.where(t < 1, 2 / 3 - t ** 2 + t ** 3 / 2,
                    np.where(t < 2, (2 - t) ** 3 / 6, 0.0))


_NOISE_OCTAVES = ((4, 34.0), (12, 22.0))   # (cells across the image, amplitude)
_BASES: dict = {}


def _basis(res: int) -> np.ndarray:
    """(res, B) float32 design matrix ``[1, u, spline bases...]``, u in [0,1].

    A background channel is ``M @ C @ M.T`` for a (B, B) coefficient matrix
    ``C``: the [1, u] block gives a linear gradient, the block-diagonal spline
    blocks a smooth random texture per octave.
    """
    if res not in _BASES:
        u = np.linspace(0.0, 1.0, res)
        cols = [np.ones(res), u]
        for cells, _ in _NOISE_OCTAVES:
            x = u * (cells - 1)
            cols += [_bspline3(x - j) for j in range(-1, cells + 1)]
        _BASES[res] = np.stack(cols, axis=1).astype(np.float32)
    return _BASES[res]


def _grain(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8 uniform in 0..31 from raw generator output."""
    nbytes = size * size * 3
    raw = rng.bit_generator.random_raw((nbytes + 7) // 8).view(np.uint8)[:nbytes]
    return (raw >> 3).reshape(size, size, 3)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Random smooth gradient + smooth noise texture + fine grain, uint8 RGB.

    Vectorised: the smooth part is two small matrix products at ~size/4
    resolution (>= 32 px), bilinearly resized to ``size``; the grain is raw
    random bytes.
    """
    res = min(size, max(32, size // 4))
    M = _basis(res)
    B = M.shape[1]
    C = np.zeros((3, B, B), np.float32)
    c0, c1 = rng.uniform(30, 225, size=(2, 3))
    theta = rng.uniform(0, 2 * np.pi)
    a, b = np.cos(theta), np.sin(theta)
    norm = abs(a) + abs(b)
    # value(y, x) = c0 + (c1 - c0) * (0.5 + (a (x-.5) + b (y-.5)) / norm) - 16 (grain offset)
    d = (c1 - c0) / norm
    C[:, 0, 0] = c0 + (c1 - c0) * 0.5 - d * 0.5 * (a + b) - 16
    C[:, 0, 1] = d * a   # column (x) term: row basis 1, column basis u
    C[:, 1, 0] = d * b   # row (y) term
    k = 2
    for cells, amp in _NOISE_OCTAVES:
        n = cells + 2
        C[:, k:k + n, k:k + n] = rng.uniform(-amp, amp, size=(3, n, n))
        k += n
    low = np.ascontiguousarray(((M @ C) @ M.T).transpose(1, 2, 0))   # (res, res, 3)
    img = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR) if res != size else low
    np.clip(img, 0, 255, out=img)
    grain = _grain(rng, size)                      # uniform 0..31, offset folded in above
    return cv2.add(img.astype(np.uint8), grain)    # saturating


_CURVE_T = np.linspace(0, 1, 24)[None, :, None]


def _clutter(rng: np.random.Generator, img: np.ndarray, size: int) -> None:
    """Distractor strokes (lines, quadratic curves) and small dots, in place."""
    s = size / 128.0
    n_lines, n_curves, n_dots = (int(v) for v in rng.integers((2, 2, 6), (5, 5, 16)))
    n = n_lines + n_curves + n_dots
    cols = rng.integers(0, 256, size=(n, 3)).tolist()
    thick = np.maximum(1, np.round(s * rng.integers(1, 3, size=n))).astype(int).tolist()
    pts = np.round(rng.uniform(-0.1 * size, 1.1 * size, size=(n_lines + n_curves, 3, 2))
                   * _ONE).astype(np.int32)
    for i in range(n_lines):
        (x0, y0), (x1, y1) = pts[i, :2].tolist()
        cv2.line(img, (x0, y0), (x1, y1), cols[i], thick[i], cv2.LINE_8, _SHIFT)
    if n_curves:
        t = _CURVE_T
        ctrl = pts[n_lines:].astype(np.float64)[:, :, None, :]   # (n, 3, 1, 2)
        curves = ((1 - t) ** 2 * ctrl[:, 0] + 2 * (1 - t) * t * ctrl[:, 1]
                  + t ** 2 * ctrl[:, 2]).astype(np.int32)         # (n, 24, 2), fixed point
        for j in range(n_curves):
            i = n_lines + j
            cv2.polylines(img, [curves[j]], False, cols[i], thick[i], cv2.LINE_8, _SHIFT)
    centres = np.round(rng.uniform(0, size, size=(n_dots, 2)) * _ONE).astype(int).tolist()
    radii = np.round(rng.uniform(1.0, 2.5, size=n_dots) * s * _ONE).astype(int).tolist()
    for j in range(n_dots):
        i = n_lines + n_curves + j
        cv2.circle(img, tuple(centres[j]), radii[j], cols[i], -1, cv2.LINE_8, _SHIFT)


def _place(rng: np.random.Generator, size: int) -> tuple:
    """Radius, angle and centre: object inside the image, and its bounding
    square (hence its box) clear of the tag box."""
    r = 0.5 * size * rng.uniform(*SCALE_RANGE)
    angle = rng.uniform(0, 2 * np.pi)
    pad = 2.0   # px of slack for rasterisation
    tx1, ty1 = tag_box(size)[2:]
    lo, hi = r + pad, size - 1 - r - pad
    for _ in range(1000):
        cx, cy = rng.uniform(lo, hi, size=2)
        if cx - lo >= tx1 or cy - lo >= ty1:   # left or top edge past the tag
            return r, angle, (cx, cy)
    raise RuntimeError("could not place object clear of the tag")  # unreachable


def _pick_color(rng: np.random.Generator, local_mean: np.ndarray) -> np.ndarray:
    """Random colour far from ``local_mean``: first of 32 candidates that is
    at least ``_MIN_CONTRAST`` away, else the farthest."""
    cand = rng.integers(0, 256, size=(32, 3))
    diff = cand - local_mean
    d2 = np.einsum("ij,ij->i", diff, diff)
    ok = np.flatnonzero(d2 >= _MIN_CONTRAST ** 2)
    return cand[ok[0] if ok.size else int(np.argmax(d2))]


def _as_rng(rng_or_seed) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(rng_or_seed)


def _render(rng: np.random.Generator, label: int, size: int, mode: str,
            img: np.ndarray, mask8: np.ndarray, draw_object: bool = True) -> tuple:
    """Draw one sample into ``img`` (H,W,3 uint8) and zeroed ``mask8`` (H,W
    uint8). Returns ``(box, tag, color, center, radius)``."""
    img[...] = _background(rng, size)
    _clutter(rng, img, size)

    r, angle, (cx, cy) = _place(rng, size)
    ca, sa = np.cos(angle), np.sin(angle)
    rot = np.array([[ca, sa], [-sa, ca]]) * r      # row-vector rotate + scale
    polys = [np.round((o @ rot + (cx, cy)) * _ONE).astype(np.int32)
             for o in _OUTLINES[label]]

    cv2.fillPoly(mask8, polys, 1, cv2.LINE_8, _SHIFT)
    x, y, w, h = cv2.boundingRect(mask8)
    box = (x, y, x + w, y + h)

    local_mean = np.array(cv2.mean(img[y:y + h, x:x + w])[:3])
    color = _pick_color(rng, local_mean).tolist()
    wrong = (label + 1 + int(rng.integers(K - 1))) % K   # always drawn: same stream in all modes
    if draw_object:
        cv2.fillPoly(img, polys, color, cv2.LINE_8, _SHIFT)

    tag = {"clean": -1, "biased": label, "counter": wrong}[mode]
    if tag >= 0:
        tx0, ty0, tx1, ty1 = tag_box(size)
        img[ty0:ty1, tx0:tx1] = TAG_COLORS[tag]
    return box, tag, tuple(color), (float(cx), float(cy)), float(r)


def _check(label: int, mode: str, size: int) -> None:
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not 0 <= label < K:
        raise ValueError(f"label must be in [0, {K}), got {label}")


def sample(rng_or_seed: Union[np.random.Generator, int, np.random.SeedSequence],
           label: int, size: int = 128, mode: str = "clean",
           draw_object: bool = True) -> Sample:
    """Render one image of class ``label``.

    ``draw_object=False`` renders the identical image without the object
    (same random stream; mask/box/color still describe the omitted object).
    """
    _check(label, mode, size)
    img = np.empty((size, size, 3), np.uint8)
    mask8 = np.zeros((size, size), np.uint8)
    box, tag, color, center, radius = _render(_as_rng(rng_or_seed), label, size, mode,
                                              img, mask8, draw_object)
    return Sample(img, int(label), mask8.view(bool), box, tag, color, center, radius)


def generate(n: int, seed: int = 0, size: int = 128, mode: str = "clean") -> ShapesData:
    """Generate ``n`` class-balanced samples (counts differ by at most 1).

    Same ``(n, seed, size)`` gives the same images in every mode except for
    the tag region.
    """
    _check(0, mode, size)
    labels = np.random.default_rng(seed).permutation(np.arange(n) % K).astype(np.int64)
    images = np.empty((n, size, size, 3), np.uint8)
    masks8 = np.zeros((n, size, size), np.uint8)
    boxes = np.empty((n, 4), np.int32)
    tags = np.empty(n, np.int64)
    colors = np.empty((n, 3), np.uint8)
    centers = np.empty((n, 2), np.float32)
    radii = np.empty(n, np.float32)
    for i in range(n):
        rng = np.random.default_rng(sample_seed(seed, i))
        boxes[i], tags[i], colors[i], centers[i], radii[i] = _render(
            rng, int(labels[i]), size, mode, images[i], masks8[i])
    return ShapesData(images=images, labels=labels, masks=masks8.view(bool), boxes=boxes,
                      tags=tags, colors=colors, centers=centers, radii=radii,
                      mode=mode, seed=seed)
