"""Training images for distillation: the shapes generator streaming fresh images (default), or
an ImageFolder (one sub-folder per class).

Every batch is a pure function of (seed, epoch, step), so a run resumed from a checkpoint sees
exactly the images an uninterrupted run would have seen. Images are uint8 RGB at the render
size; each network's own ``Preprocess`` turns them into its input (``to_input``), the same
one ``load_model`` builds from the student's card, so training and use see the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..datasets.shapes import CLASSES, generate
from ..images import load_image

EVAL_SEED = 1_000_000   # fresh evaluation images: generate(n, EVAL_SEED), never drawn for training
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class Batch:
    images: np.ndarray            # N×H×W×3 uint8 RGB
    labels: np.ndarray            # N int64
    masks: np.ndarray | None      # N×H×W bool object masks (shapes only)


def batch_seed(seed: int, epoch: int, step: int) -> int:
    """The generator seed of one training batch (independent streams per seed, epoch and step)."""
    return int(np.random.SeedSequence([seed, epoch, step]).generate_state(1)[0])


def to_input(images: np.ndarray, preprocess) -> torch.Tensor:
    """N×H×W×3 uint8 → N×C×h×w float32 through ``preprocess`` (resize, crop, normalise)."""
    return torch.cat([preprocess(img)[1] for img in images])


class ShapesStream:
    """Fresh shapes-in-clutter images (``core.datasets.shapes``), rendered at ``size``."""

    classes = CLASSES

    def __init__(self, size: int = 128, mode: str = "clean"):
        self.size, self.mode = int(size), mode

    def batch(self, seed: int, epoch: int, step: int, n: int) -> Batch:
        data = generate(n, seed=batch_seed(seed, epoch, step), size=self.size, mode=self.mode)
        return Batch(data.images, data.labels, data.masks)

    def evaluation(self, n: int) -> Batch:
        data = generate(n, seed=EVAL_SEED, size=self.size, mode=self.mode)
        return Batch(data.images, data.labels, data.masks)

    def describe(self) -> str:
        return f"shapes generator ({self.mode}, {self.size} px, fresh images every batch)"


class ImageFolderData:
    """An ImageFolder: ``root/<class name>/<image>``. Every 10th file of each class (sorted) is
    held out for evaluation. Class indices follow ``classes`` (the teacher's labels) when every
    folder name is one of them, else the sorted folder names."""

    def __init__(self, root: str | Path, classes=None, size: int = 128):
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"--data {root}: not a folder")
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        if not folders:
            raise ValueError(f"--data {root}: no class sub-folders (expected root/<class>/<image>)")
        names = [p.name for p in folders]
        known = [str(c).lower() for c in classes] if classes else []
        if known and all(n.lower() in known for n in names):
            self.classes = tuple(classes)
            index = {n: known.index(n.lower()) for n in names}
        else:
            self.classes = tuple(names)
            index = {n: i for i, n in enumerate(names)}
        self.train: list[tuple[Path, int]] = []
        self.held_out: list[tuple[Path, int]] = []
        for folder in folders:
            files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            for i, f in enumerate(files):
                (self.held_out if i % 10 == 9 else self.train).append((f, index[folder.name]))
        if not self.train:
            raise ValueError(f"--data {root}: no images found ({', '.join(IMAGE_SUFFIXES)})")
        self.root, self.size = root, int(size)

    def _load(self, items) -> Batch:
        import cv2

        images = np.stack([cv2.resize(load_image(f), (self.size, self.size), interpolation=cv2.INTER_AREA)
                           for f, _ in items])
        return Batch(images, np.array([c for _, c in items], dtype=np.int64), None)

    def batch(self, seed: int, epoch: int, step: int, n: int) -> Batch:
        order = np.random.default_rng([seed, epoch]).permutation(len(self.train))
        picks = order[(step * n + np.arange(n)) % len(self.train)]
        return self._load([self.train[i] for i in picks])

    def evaluation(self, n: int) -> Batch:
        items = self.held_out[:n] or self.train[:n]
        return self._load(items)

    def describe(self) -> str:
        return f"image folder {self.root} ({len(self.train)} training, {len(self.held_out)} held-out images)"
