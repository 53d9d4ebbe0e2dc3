"""``saliency-studio units``: the top units of a layer for an image — by activation, or the
class-specific ranking — optionally with each unit's top images over a folder, and a contact
sheet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .common import UsageError, class_index, load, model_arguments


def register(sub) -> dict:
    p = sub.add_parser("units", help="the units (channels) of a layer that fire most, or that a class relies on")
    model_arguments(p)
    p.add_argument("--layer", required=True, help="layer whose channels are ranked (see the layer tree)")
    p.add_argument("--image", required=True, help="image file")
    p.add_argument("--class", dest="class_", default=None,
                   help="class index or label: rank by weight × mean activation (CAM §5; gradient weight "
                        "where the model has no GAP + linear head) instead of mean activation")
    p.add_argument("--top", type=int, default=16, help="units to report (default 16)")
    p.add_argument("--data", default=None, help="folder of images (searched recursively) for each unit's top images")
    p.add_argument("--images-per-unit", type=int, default=9, help="top images per unit with --data (default 9)")
    p.add_argument("--json", required=True, help="write {units: [{channel, score, ...}]}")
    p.add_argument("--sheet", default=None, help="contact sheet PNG: each unit's map and top-image crops")
    return {"units": _cmd_units}


def _image_files(folder: str) -> list[Path]:
    from ..images import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"--data {folder}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_mask"))
    if not files:
        raise UsageError(f"--data {folder}: no images found")
    return files


def _cmd_units(args) -> int:
    from ..images import load_image
    from ..render import grid, overlay
    from ..units import channel_maps, class_units, rank_channels, top_images, unit_crops

    if args.top < 1 or args.images_per_unit < 1:
        raise UsageError("--top and --images-per-unit must be at least 1")
    image = load_image(args.image)
    bundle = load(args)
    display, x = bundle.prepare(image)
    result: dict = {"model": bundle.name, "layer": args.layer, "image": args.image}
    if args.class_ is None:
        maps = channel_maps(bundle, x, args.layer)
        order = rank_channels(maps, "mean")[:args.top]
        units = [{"channel": int(c), "score": float(maps[c].mean()), "max_activation": float(maps[c].max())}
                 for c in order]
        result["ranking"] = "mean activation"
        unit_maps = [maps[c] for c in order]
    else:
        index = class_index(args.class_, bundle, len(bundle.predict(x, k=10 ** 6)), flag="--class")
        found = class_units(bundle, x, index, args.layer, top=args.top)
        units = [{"channel": u["channel"], "score": u["contribution"], "weight": u["weight"],
                  "mean_activation": u["mean_activation"], "ranking": u["ranking"]} for u in found]
        result.update({"class": index, "class_label": bundle.label(index),
                       "ranking": "weight × mean activation" if found and found[0]["ranking"] == "cam"
                       else "gradient weight × mean activation"})
        unit_maps = [u["map"] for u in found]
    crops: dict[int, list] = {}
    if args.data:
        top = top_images(bundle, _image_files(args.data), args.layer, k=args.images_per_unit)
        result["skipped"] = top.skipped
        for unit in units:
            crops[unit["channel"]] = unit_crops(bundle, top, args.layer, unit["channel"])
            unit["top_images"] = [{k: v for k, v in c.items() if k != "crop"} for c in crops[unit["channel"]]]
    result["units"] = units
    Path(args.json).write_text(json.dumps(result, indent=1))
    for rank, unit in enumerate(units, 1):
        print(f"{rank:3d}. channel {unit['channel']:5d}  score {unit['score']:.4g}")
    print(f"units written to {args.json}")
    if args.sheet:
        from ..render import save_png

        import cv2

        panels = []
        h, w = display.shape[:2]
        for unit, m in zip(units, unit_maps):
            up = cv2.resize(np.asarray(m, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            panels.append((f"unit {unit['channel']}", overlay(display, up)))
            for c in crops.get(unit["channel"], []):
                panels.append((f"{c['activation']:.2g}", _fit(c["crop"], display.shape[:2])))
        cols = 1 + (args.images_per_unit if crops else 3)
        print(f"contact sheet written to {save_png(args.sheet, grid(panels, cols=cols, scale=1))}")
    return 0


def _fit(crop: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    if crop.size == 0:
        return np.full((*shape, 3), 255, np.uint8)
    return cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
