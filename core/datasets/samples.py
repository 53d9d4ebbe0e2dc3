"""The demo images in ``resources/images/demo``: shapes with exact ground truth.

    python -m core.datasets.samples            # (re)writes the folder

``ground_truth.json`` lists, per image: file, class, class index, box (x0, y0, x1, y1;
inclusive-exclusive pixels), mask file (PNG, 255 = object), mode (clean / biased /
counter) and the class whose colour the corner tag has (-1: no tag).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .shapes import CLASSES, generate, tag_box

FOLDER = Path(__file__).resolve().parents[2] / "resources" / "images" / "demo"
SEED = 2024


def write_samples(folder: Path = FOLDER, seed: int = SEED) -> list[dict]:
    """One clean image per class, then three biased and three counter-biased ones."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    per_mode = {"clean": 6, "biased": 3, "counter": 3}
    for mode, count in per_mode.items():
        data = generate(12, seed=seed, mode=mode)
        picks = [int(np.flatnonzero(data.labels == k)[0]) for k in range(len(CLASSES))]
        if mode != "clean":
            picks = [int(np.flatnonzero(data.labels == k)[1]) for k in range(count)]
        for i in picks[:count]:
            name = f"{mode}_{CLASSES[data.labels[i]]}"
            cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(data.images[i], cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(folder / f"{name}_mask.png"), data.masks[i].astype(np.uint8) * 255)
            entries.append({"file": f"{name}.png", "class": CLASSES[data.labels[i]],
                            "label": int(data.labels[i]), "box": [int(v) for v in data.boxes[i]],
                            "mask": f"{name}_mask.png", "mode": mode, "tag": int(data.tags[i])})
    index = {"classes": list(CLASSES), "size": int(data.images.shape[1]), "tag_box": list(tag_box(128)),
             "seed": seed, "box_convention": "x0, y0, x1, y1 in pixels; x1/y1 exclusive", "images": entries}
    (folder / "ground_truth.json").write_text(json.dumps(index, indent=2) + "\n")
    return entries


def read_samples(folder: Path = FOLDER) -> list[dict]:
    """Entries of ``ground_truth.json`` with absolute ``path``, ``mask_path`` and loaded ``mask``."""
    index = json.loads((folder / "ground_truth.json").read_text())
    out = []
    for entry in index["images"]:
        mask = cv2.imread(str(folder / entry["mask"]), cv2.IMREAD_GRAYSCALE) > 127
        out.append({**entry, "path": folder / entry["file"], "mask_path": folder / entry["mask"], "mask_array": mask})
    return out


if __name__ == "__main__":
    for e in write_samples():
        print(e["file"], e["class"], e["box"], e["mode"])
