"""Failure-mode scan of a labelled set: predictions, accuracy, confusion matrix, and the
misclassified images sorted by confidence (the most confident mistakes first)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..batching import default_batch_size, run_batches
from ..images import IMAGE_SUFFIXES, load_image
from ..jobs import Progress, ensure_progress


@dataclass
class ScanResult:
    files: list[Path]
    labels: np.ndarray
    predictions: np.ndarray
    confidences: np.ndarray
    classes: list[str]
    confusion: np.ndarray = field(init=False)

    def __post_init__(self):
        k = len(self.classes)
        self.confusion = np.zeros((k, k), np.int64)
        np.add.at(self.confusion, (self.labels, self.predictions), 1)

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.labels == self.predictions)) if len(self.labels) else 0.0

    def misclassified(self) -> list[dict]:
        wrong = np.flatnonzero(self.labels != self.predictions)
        order = wrong[np.argsort(-self.confidences[wrong], kind="stable")]
        return [{"file": str(self.files[i]), "label": self.classes[self.labels[i]],
                 "predicted": self.classes[self.predictions[i]], "confidence": float(self.confidences[i]),
                 "label_index": int(self.labels[i]), "predicted_index": int(self.predictions[i])} for i in order]

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "classes": self.classes, "confusion": self.confusion.tolist(),
                "misclassified": self.misclassified(), "images": len(self.files)}


def _class_index(name: str, labels: list[str]) -> int:
    lowered = [lab.lower() for lab in labels]
    if name.lower() in lowered:
        return lowered.index(name.lower())
    if name.strip().isdigit() and int(name) < len(labels):
        return int(name)
    raise ValueError(f"label {name!r} is not a class of this model (e.g. {', '.join(labels[:6])})")


def read_labelled(source: str | Path, labels: list[str]) -> list[tuple[Path, int]]:
    """(file, class index) pairs from an ImageFolder layout (one sub-folder per class) or a CSV of
    ``file,label`` (label: class name or index; files relative to the CSV)."""
    source = Path(source)
    items = []
    if source.is_dir():
        for sub in sorted(p for p in source.iterdir() if p.is_dir()):
            index = _class_index(sub.name, labels)
            items += [(p, index) for p in sorted(sub.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    elif source.suffix.lower() == ".csv":
        with open(source, newline="") as f:
            for row in csv.reader(f):
                if len(row) < 2 or row[0].strip().lower() == "file":
                    continue
                items.append((source.parent / row[0].strip(), _class_index(row[1].strip(), labels)))
    else:
        raise ValueError(f"{source}: expected a folder with one sub-folder per class, or a CSV of file,label")
    if not items:
        raise ValueError(f"{source}: no labelled images found")
    return items


def scan(bundle, items: list[tuple[Path, int]], batch_size: int = 0, progress: Progress | None = None) -> ScanResult:
    """Predict every image (batched, inference mode)."""
    n = len(items)
    preds, confs = np.empty(n, np.int64), np.empty(n, np.float64)
    progress = ensure_progress(progress, n)

    def work(start, stop):
        xs = torch.cat([bundle.prepare(load_image(path))[1] for path, _ in items[start:stop]])
        with torch.inference_mode():
            probs = bundle.probabilities(bundle.fast_logits(xs))
        conf, pred = probs.max(1)
        preds[start:stop], confs[start:stop] = pred.cpu().numpy(), conf.cpu().numpy()

    run_batches(n, batch_size or default_batch_size(bundle.device, backward=False), work, progress)
    classes = list(bundle.labels or [f"class {i}" for i in range(int(preds.max()) + 1)])
    return ScanResult([p for p, _ in items], np.array([lab for _, lab in items]), preds, confs, classes)
