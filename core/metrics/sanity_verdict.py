"""Per-method sanity verdicts (Adebayo et al. 2018, §3.1): does a method depend on the model?

For each method, the cascading-randomisation check (``robustness.sanity_check``) runs on a few
images; the similarity after each randomised block is the median over the images, and the
method passes when the mean of the first ``top_blocks`` medians stays below ``threshold``.
Verdicts are cached on disk per model (keyed by a hash of its weights, so new weights mean a new
check), method, parameters, images and rule.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..jobs import Progress, ensure_progress
from ..paths import cache_dir
from .robustness import sanity_check

DEPENDS = "depends on the model's weights"
BARELY = "barely depends on the weights: read with care"


def weights_digest(net: torch.nn.Module) -> str:
    """A short hash of every parameter and buffer of ``net`` (names, shapes and values)."""
    h = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        h.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        h.update(tensor.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def default_images(bundle) -> list[Path]:
    """The bundled demo images for the demo models, the bundled photos otherwise."""
    root = Path(__file__).resolve().parents[2] / "resources" / "images"
    if bundle.name.startswith("demo"):
        return sorted(p for p in (root / "demo").glob("*.png") if not p.stem.endswith("_mask"))
    return sorted((root / "photos").glob("*.png"))


def _key(digest: str, method: str, params: dict | None, images: list[Path], seed: int, rule: dict) -> str:
    stamp = [(p.name, p.stat().st_size) for p in images]
    text = json.dumps([digest, method, params or {}, stamp, seed, rule], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def method_sanity(bundle, methods: list[str], images: list[Path] | None = None, params: dict[str, dict] | None = None,
                  seed: int = 0, threshold: float = 0.8, top_blocks: int = 3, use_cache: bool = True,
                  progress: Progress | None = None, cache_only: bool = False) -> dict[str, dict[str, Any]]:
    """{method: {"passes", "verdict", "similarity": {block: median}, "rule", "images", "cached"}}.
    ``cache_only``: return only the verdicts already on disk, computing nothing (a quick look-up)."""
    from ..diagnose.adversarial import map_function
    from ..images import load_image

    images = [Path(p) for p in (images or default_images(bundle))]
    if not images:
        raise ValueError("the sanity check needs at least one image")
    digest = weights_digest(bundle.net)
    rule = {"threshold": threshold, "top_blocks": top_blocks, "statistic": "combined"}
    folder = cache_dir("sanity", digest)
    progress = ensure_progress(progress, len(methods) * len(images))
    inputs = None
    out = {}
    for method in methods:
        file = folder / f"{method}-{_key(digest, method, (params or {}).get(method), images, seed, rule)}.json"
        if use_cache and file.is_file():
            out[method] = {**json.loads(file.read_text()), "cached": True}
            progress.step(len(images))
            continue
        if cache_only:
            progress.step(len(images))
            continue
        if inputs is None:
            inputs = [bundle.prepare(load_image(p))[1] for p in images]
        per_block: dict[str, list[float]] = {}
        for x in inputs:
            with torch.inference_mode():
                predicted = int(bundle(x).argmax(1))
            fn = map_function(method, predicted, None, (params or {}).get(method), seed)
            res = sanity_check(bundle, x, fn, seed=seed, threshold=threshold, top_blocks=top_blocks)
            for row in res.details["rows"]:
                per_block.setdefault(row["randomised_down_to"], []).append(row["combined"])
            progress.step()
        similarity = {block: float(np.median(values)) for block, values in per_block.items()}
        top = float(np.mean(list(similarity.values())[:top_blocks]))
        passes = top < threshold
        verdict = {"passes": passes, "verdict": DEPENDS if passes else BARELY, "top_similarity": top,
                   "similarity": similarity, "images": len(images), "threshold": threshold, "top_blocks": top_blocks,
                   "rule": f"passes when the median similarity ½(|Spearman| of |maps| + SSIM), averaged over the "
                           f"first {top_blocks} randomised blocks, is below {threshold} (Adebayo et al. 2018)"}
        file.write_text(json.dumps(verdict, indent=1))
        out[method] = {**verdict, "cached": False}
    return out
