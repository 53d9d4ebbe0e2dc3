"""Two-object images for the shapes generator (``core.datasets.shapes``): the same background
and clutter, then two objects of two *different* classes, each with its own exact mask and box,
their bounding squares (hence boxes and masks) disjoint; no tag. For the class-discrimination
study of Selvaraju et al. 2017 (Grad-CAM §5.1), where a map is shown on an image containing both
offered classes so the image alone does not give the answer away. Pair ``i`` of
``generate_pairs(n, seed)`` is ``sample_pair(pair_seed(seed, i), labels[i], size)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Union

import cv2
import numpy as np

from .shapes import (_ONE, _OUTLINES, _SHIFT, CLASSES, K, SCALE_RANGE, _as_rng, _background, _clutter,  # noqa: F401
                     _pick_color,
                     sample_seed, tag_box)

__all__ = ["PAIRS", "PairSample", "PairData", "generate_pairs", "sample_pair", "pair_seed"]

#: Every unordered pair of distinct classes, in a fixed order.
PAIRS = tuple((a, b) for a in range(K) for b in range(a + 1, K))
PAIR_SCALE_RANGE = (0.20, 0.32)   # smaller top end than SCALE_RANGE: two objects must fit
_PAIR_STREAM = 2                  # spawn-key prefix: pair streams never equal sample_seed streams


class PairSample(NamedTuple):
    """One two-object image; per-object fields are pairs, in the order of ``labels``."""
    image: np.ndarray    # (H, W, 3) uint8 RGB
    labels: tuple        # (label0, label1), distinct
    masks: np.ndarray    # (2, H, W) bool, disjoint
    boxes: tuple         # ((x0, y0, x1, y1), (x0, y0, x1, y1)), inclusive-exclusive, disjoint
    colors: tuple        # two RGB colours
    centers: tuple       # two (x, y) centres
    radii: tuple         # two circumradii in px


@dataclass
class PairData:
    """A generated two-object split; the second axis of the per-object arrays is the object."""
    images: np.ndarray   # (N, H, W, 3) uint8 RGB
    labels: np.ndarray   # (N, 2) int64, distinct per row
    masks: np.ndarray    # (N, 2, H, W) bool
    boxes: np.ndarray    # (N, 2, 4) int32
    colors: np.ndarray   # (N, 2, 3) uint8
    centers: np.ndarray  # (N, 2, 2) float32 (x, y)
    radii: np.ndarray    # (N, 2) float32
    classes: tuple = CLASSES
    seed: int = 0

    def __len__(self) -> int:
        return len(self.labels)


def pair_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed of pair ``index`` of ``generate_pairs(n, seed)``."""
    return np.random.SeedSequence(seed, spawn_key=(_PAIR_STREAM, index))


def _outline_polys(label: int, r: float, angle: float, center: tuple) -> list:
    ca, sa = np.cos(angle), np.sin(angle)
    rot = np.array([[ca, sa], [-sa, ca]]) * r
    return [np.round((o @ rot + center) * _ONE).astype(np.int32) for o in _OUTLINES[label]]


def _place_pair(rng: np.random.Generator, size: int) -> list:
    """Two (radius, angle, centre): inside the image, clear of the tag box, and with bounding
    squares separated by at least 2 px of slack on each side."""
    pad = 2.0
    tx1, ty1 = tag_box(size)[2:]
    for _ in range(100):
        radii = 0.5 * size * rng.uniform(*PAIR_SCALE_RANGE, size=2)
        angles = rng.uniform(0, 2 * np.pi, size=2)
        placed: list = []
        for r in radii:
            lo, hi = r + pad, size - 1 - r - pad
            for _ in range(200):
                cx, cy = rng.uniform(lo, hi, size=2)
                clear_tag = cx - lo >= tx1 or cy - lo >= ty1
                apart = all(abs(cx - px) > r + pr + 2 * pad or abs(cy - py) > r + pr + 2 * pad
                            for pr, (px, py) in placed)
                if clear_tag and apart:
                    placed.append((float(r), (float(cx), float(cy))))
                    break
            else:
                break
        if len(placed) == 2:
            return [(r, float(a), c) for (r, c), a in zip(placed, angles)]
    raise RuntimeError(f"could not place two objects in a {size}x{size} image")


def _render_pair(rng: np.random.Generator, labels: tuple, size: int, img: np.ndarray,
                 masks8: np.ndarray) -> tuple:
    """Draw a two-object image into ``img`` and zeroed ``masks8`` (2, H, W). Returns
    ``(boxes, colors, centers, radii)``."""
    img[...] = _background(rng, size)
    _clutter(rng, img, size)
    boxes, colors, centers, radii = [], [], [], []
    for k, (label, (r, angle, center)) in enumerate(zip(labels, _place_pair(rng, size))):
        polys = _outline_polys(label, r, angle, center)
        cv2.fillPoly(masks8[k], polys, 1, cv2.LINE_8, _SHIFT)
        x, y, w, h = cv2.boundingRect(masks8[k])
        local_mean = np.array(cv2.mean(img[y:y + h, x:x + w])[:3])
        color = _pick_color(rng, local_mean).tolist()
        cv2.fillPoly(img, polys, color, cv2.LINE_8, _SHIFT)
        boxes.append((x, y, x + w, y + h))
        colors.append(tuple(color))
        centers.append(center)
        radii.append(r)
    return tuple(boxes), tuple(colors), tuple(centers), tuple(radii)


def _check_pair(labels, size: int) -> tuple:
    if size < 32:
        raise ValueError(f"size must be >= 32 for two objects, got {size}")
    labels = tuple(int(v) for v in labels)
    if len(labels) != 2 or labels[0] == labels[1] or not all(0 <= v < K for v in labels):
        raise ValueError(f"labels must be two different classes in [0, {K}), got {labels}")
    return labels


def sample_pair(rng_or_seed: Union[np.random.Generator, int, np.random.SeedSequence],
                labels: tuple, size: int = 128) -> PairSample:
    """Render one image holding an object of each of the two classes ``labels``."""
    labels = _check_pair(labels, size)
    img = np.empty((size, size, 3), np.uint8)
    masks8 = np.zeros((2, size, size), np.uint8)
    boxes, colors, centers, radii = _render_pair(_as_rng(rng_or_seed), labels, size, img, masks8)
    return PairSample(img, labels, masks8.view(bool), boxes, colors, centers, radii)


def generate_pairs(n: int, seed: int = 0, size: int = 128) -> PairData:
    """``n`` two-object images; the 15 class pairs equally often (±1), each pair's order random."""
    _check_pair((0, 1), size)
    rng = np.random.default_rng(seed)
    which = rng.permutation(np.arange(n) % len(PAIRS))
    flip = rng.integers(0, 2, size=n).astype(bool)
    labels = np.array([PAIRS[w][::-1] if f else PAIRS[w] for w, f in zip(which, flip)],
                      np.int64).reshape(n, 2)
    images = np.empty((n, size, size, 3), np.uint8)
    masks8 = np.zeros((n, 2, size, size), np.uint8)
    boxes = np.empty((n, 2, 4), np.int32)
    colors = np.empty((n, 2, 3), np.uint8)
    centers = np.empty((n, 2, 2), np.float32)
    radii = np.empty((n, 2), np.float32)
    for i in range(n):
        rng_i = np.random.default_rng(pair_seed(seed, i))
        boxes[i], colors[i], centers[i], radii[i] = _render_pair(
            rng_i, tuple(int(v) for v in labels[i]), size, images[i], masks8[i])
    return PairData(images=images, labels=labels, masks=masks8.view(bool), boxes=boxes,
                    colors=colors, centers=centers, radii=radii, seed=seed)
