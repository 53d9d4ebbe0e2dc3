"""The images of a study and what each trial asks about them.

Discrimination (Selvaraju et al. 2017, Grad-CAM §5.1) offers two classes that are both
plausible from the image: on the generator's two-object images the two objects' classes (kept
only where every model ranks both in its top 2, unless ``require_top2`` is off); otherwise the
true class (or, without ground truth, the predicted one) and the model's next most probable
class. Preference (§5.2; Chattopadhay et al. 2018, Grad-CAM++ §6) explains one class on both
sides: the true class where every model predicts it, else the class every model predicts
(images where the models disagree are left out, as Grad-CAM §5.2 used only images both models
got right).

Attention checks and practice trials use generated images with exact masks, so their maps are
known: the mask, blurred (the "oracle" map), and for preference the same blob moved off the
object onto the background (the obviously worse map).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

DEMO_SOURCES = ("demo-pairs", "demo-shapes")


@dataclass
class Item:
    """One image: where it came from, its pixels, and the ground-truth classes (with masks) of
    generated images."""

    source: str
    image: np.ndarray
    classes: tuple[str, ...] = ()
    masks: tuple[np.ndarray, ...] = ()


@dataclass
class Offer:
    """An item as a study uses it: ``classes`` = the two offered classes (discrimination) or the
    one class explained on both sides (preference)."""

    item: Item
    classes: tuple[str, ...]
    predictions: dict = field(default_factory=dict)


def demo_items(kind: str, n: int, seed: int) -> list[Item]:
    """``n`` generated images: two-object pairs or single objects (core.datasets.shapes)."""
    from ..datasets.pairs import generate_pairs
    from ..datasets.shapes import CLASSES, generate

    if kind == "demo-pairs":
        data = generate_pairs(n, seed=seed)
        return [Item(f"demo pair {i} (seed {seed})", data.images[i],
                     tuple(CLASSES[c] for c in data.labels[i]), tuple(data.masks[i]))
                for i in range(n)]
    if kind == "demo-shapes":
        data = generate(n, seed=seed)
        return [Item(f"demo shape {i} (seed {seed})", data.images[i], (CLASSES[data.labels[i]],),
                     (data.masks[i],)) for i in range(n)]
    raise ValueError(f"unknown demo image set {kind!r}; use one of {', '.join(DEMO_SOURCES)}")


def folder_items(paths: list[Path], limit: int, seed: int) -> list[Item]:
    """Images from files/folders: all of them, or a seeded random ``limit`` of them."""
    from ..images import load_image

    paths = list(paths)
    if len(paths) > limit:
        paths = sorted(random.Random(seed).sample(paths, limit))
    return [Item(str(p), load_image(p)) for p in paths]


def rankings(bundle, images: list[np.ndarray], batch: int = 32) -> list[list[str]]:
    """Class names of ``bundle`` from most to least probable, per image (batched passes)."""
    import torch

    out = []
    for i in range(0, len(images), batch):
        x = torch.cat([bundle.prepare(img)[1] for img in images[i:i + batch]])
        with torch.inference_mode():
            order = torch.argsort(bundle(x).float(), dim=1, descending=True).cpu().tolist()
        out += [[bundle.label(int(c)) for c in row] for row in order]
    return out


def select(items: list[Item], protocol: str, bundles: dict, need: int,
           require_top2: bool = True, chunk: int = 32) -> tuple[list[Offer], dict]:
    """Up to ``need`` offers, in item order, and ``{candidates, kept}`` counts (module docstring)."""
    offers = []
    checked = 0
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        ranked = {name: rankings(b, [it.image for it in part]) for name, b in bundles.items()}
        for j, item in enumerate(part):
            if len(offers) >= need:
                return offers, {"candidates": checked, "kept": len(offers)}
            checked += 1
            ranks = {name: r[j] for name, r in ranked.items()}
            classes = _offered(item, protocol, ranks, require_top2)
            if classes:
                offers.append(Offer(item, classes, ranks))
    return offers, {"candidates": checked, "kept": len(offers)}


def _offered(item: Item, protocol: str, ranks: dict, require_top2: bool) -> tuple[str, ...] | None:
    """The classes a trial on ``item`` offers (discrimination) or explains (preference), or None
    when the item does not fit (module docstring)."""
    first = next(iter(ranks.values()))
    if protocol == "discrimination":
        if len(item.classes) >= 2:
            classes = tuple(item.classes[:2])
            if require_top2 and any(set(r[:2]) != set(classes) for r in ranks.values()):
                return None
            return classes
        main = item.classes[0] if item.classes else first[0]
        return main, next(c for c in first if c != main)
    tops = {r[0] for r in ranks.values()}
    if len(tops) != 1 or (item.classes and first[0] not in item.classes):
        return None
    return (first[0],)


def class_index(bundle, name: str) -> int:
    labels = list(bundle.labels or ())
    if name in labels:
        return labels.index(name)
    raise ValueError(f"class {name!r} is not a label of model {bundle.name}; models compared in one study "
                     "must share class names")


def render_map(explainer, method: str, class_name: str, layer: str | None, params: dict,
               alpha: float, cmap: str, seed: int) -> np.ndarray:
    """The method's map for ``class_name`` over the model's view of the image (RGB uint8)."""
    from ..render import overlay
    from ..targets import ClassTarget

    ex = explainer.explain(method, target=ClassTarget(class_index(explainer.bundle, class_name)),
                           layer=layer, params=params, seed=seed)
    return overlay(ex.image, ex.map, alpha=alpha, cmap=cmap)


# --- known maps for attention checks and practice -------------------------------------------

def oracle_map(mask: np.ndarray) -> np.ndarray:
    """The ideal map of an object: its mask, blurred a little (σ = 3% of the side)."""
    sigma = max(1.0, 0.03 * mask.shape[0])
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def decoy_map(mask: np.ndarray, avoid: np.ndarray | None = None) -> np.ndarray:
    """The oracle blob moved onto the background: the shift (by a third / half of the image)
    whose moved mask overlaps the object (and ``avoid``) least."""
    h, w = mask.shape
    block = mask if avoid is None else (mask | avoid)
    best, best_overlap = None, None
    for dy in (0, h // 3, h // 2, 2 * h // 3):
        for dx in (0, w // 3, w // 2, 2 * w // 3):
            if dx == dy == 0:
                continue
            moved = np.roll(mask, (dy, dx), axis=(0, 1))
            overlap = int((moved & block).sum())
            if best_overlap is None or overlap < best_overlap:
                best, best_overlap = moved, overlap
    return oracle_map(best)


def known_overlay(image: np.ndarray, attr_map: np.ndarray, alpha: float, cmap: str) -> np.ndarray:
    from ..render import overlay

    return overlay(image, attr_map, alpha=alpha, cmap=cmap, signed=False)


def attention_items(n: int, seed: int) -> list[Item]:
    """Single-object images for attention checks (one object: the answer is obvious)."""
    return demo_items("demo-shapes", n, seed) if n else []


def practice_items(protocol: str, n: int, seed: int) -> list[Item]:
    """Two-object images for discrimination practice, single objects for preference practice."""
    if not n:
        return []
    return demo_items("demo-pairs" if protocol == "discrimination" else "demo-shapes", n, seed)
