"""Inside the network: single units (channels of a layer), the units a class relies on, and the
images that drive each unit most.

* Channel maps and their ranking by mean or max activation for one image.
* Class-specific units (Zhou et al. 2016, CAM §5): channels ranked by final-layer weight × mean
  activation; for a model without a GAP + linear head the gradient equivalent, Grad-CAM's
  channel weight (mean gradient, Selvaraju et al. 2017, eq. 1) × mean activation.
* Top images per unit over a set (Zeiler & Fergus 2014, §4; Yosinski et al. 2015): all channels
  of a layer in one forward per batch, a running top-k per channel (memory O(k·C), not O(N));
  the image region behind each maximum from the input gradient of that activation (its
  effective receptive field), not from architecture arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .capture import CaptureCache, LayerError, forward_hooked
from .images import ImageLoadError, load_image
from .jobs import Progress, ensure_progress
from .layers import layout_of
from .methods.cam import linear_head, to_grid
from .targets import ClassTarget

RANKINGS = ("cam", "gradient")


# how class_units ranked (its rows' "ranking"): CAM weights, or Grad-CAM gradient weights
CAM_RANKING, GRADIENT_RANKING = "cam", "gradient"
# a unit's input-space maps, in the order a view offers them (Zeiler & Fergus 2014; Springenberg
# et al. 2015; Grad-CAM with the unit as target)
UNIT_MAP_METHODS = ("guided_backprop", "deconvnet", "gradcam")
def _grid(bundle, t: torch.Tensor, layer: str) -> torch.Tensor:
    return to_grid(t, layer, layout_of(bundle, layer, t))


def channel_maps(bundle, x: torch.Tensor, layer: str) -> np.ndarray:
    """Every channel's activation map of ``layer`` for one input: C×h×w float32."""
    with torch.inference_mode():
        _, acts = forward_hooked(bundle, x, [layer])
    return _grid(bundle, acts[layer], layer)[0].float().cpu().numpy()


def rank_channels(maps: np.ndarray, by: str = "mean") -> np.ndarray:
    """Channel indices from the most to the least active (``by`` = mean or max over space)."""
    if by not in ("mean", "max"):
        raise ValueError("rank channels by mean or max")
    values = maps.reshape(len(maps), -1)
    score = values.mean(1) if by == "mean" else values.max(1)
    return np.argsort(-score, kind="stable")


def class_units(bundle, x: torch.Tensor, class_index: int, layer: str, top: int = 8,
                cache: CaptureCache | None = None, ranking: str | None = None) -> list[dict]:
    """The ``top`` channels of ``layer`` that raise class ``class_index`` most on input ``x``.

    ``ranking``: ``"cam"`` (final linear weight × mean activation: exactly the channel's share of
    the logit, CAM §5), ``"gradient"`` (mean gradient × mean activation: Grad-CAM's weight, for
    any model), or ``None``: CAM where the model has a GAP + linear head reading this layer,
    else the gradient ranking. Each dict: ``channel``, ``weight``, ``mean_activation``,
    ``contribution`` (their product, the ranking score), ``ranking`` and ``map`` (h×w)."""
    if ranking not in (None, *RANKINGS):
        raise ValueError(f"ranking must be one of {RANKINGS}")
    cache = cache or CaptureCache()
    cap = cache.get(bundle, x, ClassTarget(class_index), [layer])
    a = _grid(bundle, cap.activations[layer], layer)[0].float()
    weights = None
    if ranking in (None, "cam"):
        try:
            weights = linear_head(bundle.net, a, cap.logits, layer)[class_index]
            ranking = CAM_RANKING
        except LayerError:
            if ranking == CAM_RANKING:
                raise
    if weights is None:
        if layer in cap.unreached:
            raise LayerError(f"class {class_index} does not depend on layer {layer!r}")
        weights = _grid(bundle, cap.gradients[layer], layer)[0].float().mean((1, 2))
        ranking = GRADIENT_RANKING
    means = a.mean((1, 2))
    contribution = weights * means
    order = torch.argsort(contribution, descending=True)[:top]
    return [{"channel": int(k), "weight": float(weights[k]), "mean_activation": float(means[k]),
             "contribution": float(contribution[k]), "ranking": ranking, "map": a[k].cpu().numpy()}
            for k in order]


@dataclass
class UnitTop:
    """The images that drive each channel most: for channel c, ``images[c]`` (indices into the
    item list), ``values[c]`` (max activation) and ``positions[c]`` ((y, x) in the layer grid),
    best first."""

    files: list[str]
    values: np.ndarray  # C×k
    images: np.ndarray  # C×k, -1 where fewer than k images were seen
    positions: np.ndarray  # C×k×2
    grid: tuple[int, int]
    skipped: list[dict] = field(default_factory=list)

    def of(self, channel: int) -> list[dict]:
        return [{"file": self.files[i], "image": int(i), "activation": float(v), "position": [int(p[0]), int(p[1])]}
                for i, v, p in zip(self.images[channel], self.values[channel], self.positions[channel]) if i >= 0]


def top_images(bundle, files: list[str | Path], layer: str, k: int = 9, batch_size: int = 16,
               progress: Progress | None = None) -> UnitTop:
    """Running top-``k`` images per channel of ``layer`` over ``files``, one forward per batch for
    all channels at once; unreadable files are skipped and listed."""
    files = [str(f) for f in files]
    progress = ensure_progress(progress, len(files))
    best_v = best_i = best_p = None
    grid = (0, 0)
    skipped: list[dict] = []
    for start in range(0, len(files), batch_size):
        xs, index = [], []
        for i in range(start, min(start + batch_size, len(files))):
            try:
                xs.append(bundle.prepare(load_image(files[i]))[1])
                index.append(i)
            except (ImageLoadError, OSError) as exc:
                skipped.append({"file": files[i], "reason": str(exc).splitlines()[0] if str(exc) else "unreadable"})
        if xs:
            with torch.inference_mode():
                _, acts = forward_hooked(bundle, torch.cat(xs), [layer])
                a = _grid(bundle, acts[layer], layer).float()
            n, c, h, w = a.shape
            grid = (h, w)
            peak, where = a.flatten(2).max(2)  # n×c
            pos = torch.stack([where // w, where % w], -1)  # n×c×2
            ids = torch.tensor(index).view(n, 1).expand(n, c)
            if best_v is None:
                best_v, best_i, best_p = peak.T, ids.T, pos.transpose(0, 1)
            else:
                best_v, best_i = torch.cat([best_v, peak.T], 1), torch.cat([best_i, ids.T], 1)
                best_p = torch.cat([best_p, pos.transpose(0, 1)], 1)
            keep = min(k, best_v.shape[1])
            best_v, order = best_v.topk(keep, dim=1)
            best_i = best_i.gather(1, order)
            best_p = best_p.gather(1, order[..., None].expand(-1, -1, 2))
        progress.step(min(batch_size, len(files) - start))
    if best_v is None:
        raise ValueError("no readable image in the set")
    pad = k - best_v.shape[1]
    values, images, positions = best_v.cpu().numpy(), best_i.cpu().numpy(), best_p.cpu().numpy()
    if pad > 0:
        values = np.pad(values, ((0, 0), (0, pad)), constant_values=np.nan)
        images = np.pad(images, ((0, 0), (0, pad)), constant_values=-1)
        positions = np.pad(positions, ((0, 0), (0, pad), (0, 0)))
    return UnitTop(files, values, images, positions, grid, skipped)


def receptive_boxes(bundle, x: torch.Tensor, layer: str, units: list[tuple[int, int, int]],
                    fraction: float = 0.1) -> list[tuple[int, int, int, int]]:
    """For each (channel, y, x) of ``layer`` on the single input ``x``: the input box (x0, y0,
    x1, y1) where |∂ activation / ∂ input| summed over colour channels is ≥ ``fraction`` of its
    maximum — the effective receptive field of that one activation. One backward for all."""
    if not units:
        return []
    xs = x.detach().expand(len(units), -1, -1, -1).clone().requires_grad_(True)
    with torch.enable_grad():
        _, acts = forward_hooked(bundle, xs, [layer])
        a = _grid(bundle, acts[layer], layer)
        picks = torch.stack([a[i, c, y, xx] for i, (c, y, xx) in enumerate(units)])
        (g,) = torch.autograd.grad(picks.sum(), xs)
    boxes = []
    for sal in g.abs().sum(1).cpu().numpy():
        peak = sal.max()
        if peak <= 0:
            boxes.append((0, 0, sal.shape[1], sal.shape[0]))
            continue
        ys, xs_ = np.nonzero(sal >= fraction * peak)
        boxes.append((int(xs_.min()), int(ys.min()), int(xs_.max()) + 1, int(ys.max()) + 1))
    return boxes


def unit_crops(bundle, top: UnitTop, layer: str, channel: int, fraction: float = 0.1) -> list[dict]:
    """The top images of ``channel`` with the box behind each maximum and the cropped picture."""
    out = []
    for entry in top.of(channel):
        display, x = bundle.prepare(load_image(entry["file"]))
        (box,) = receptive_boxes(bundle, x, layer, [(channel, *entry["position"])], fraction)
        x0, y0, x1, y1 = box
        out.append({**entry, "box": list(box), "crop": display[y0:y1, x0:x1]})
    return out


def unit_synthesis(bundle, layer: str, channel: int, params: dict | None = None, seed: int = 0,
                   use_cache: bool = True, progress: Progress | None = None) -> np.ndarray:
    """The image synthesised to excite one unit (activation maximisation with the registry's
    regularisers; Yosinski et al. 2015, §3), as H×W×3 uint8 — cached on disk per model weights,
    layer, channel, parameters and seed, since it takes seconds to minutes."""
    import cv2

    from .explain import Explainer
    from .targets import UnitTarget

    file = synthesis_file(bundle, layer, channel, params, seed)
    if use_cache and file.is_file():
        return cv2.imread(str(file))[..., ::-1].copy()
    h, w = bundle.preprocess.crop
    start = np.full((h, w, 3), 128, np.uint8)
    explainer = Explainer.from_input(bundle, bundle.preprocess.to_tensor(start).to(bundle.device), start)
    result = explainer.explain("activation_maximization", target=UnitTarget(layer, channel), params=params,
                               seed=seed, progress=progress)
    image = np.ascontiguousarray(result.extras["image"])
    cv2.imwrite(str(file), image[..., ::-1])
    return image


def synthesis_file(bundle, layer: str, channel: int, params: dict | None = None, seed: int = 0) -> Path:
    """Where ``unit_synthesis`` caches the image of one unit: per model weights, layer, channel,
    parameters and seed."""
    import hashlib
    import json

    from .metrics.sanity_verdict import weights_digest
    from .paths import cache_dir

    key = json.dumps([layer, channel, params or {}, seed], sort_keys=True, default=str)
    return cache_dir("units", weights_digest(bundle.net)) / (hashlib.sha256(key.encode()).hexdigest()[:20] + ".png")


def cached_synthesis(bundle, layer: str, channel: int, params: dict | None = None, seed: int = 0) -> np.ndarray | None:
    """The unit's synthesised image if ``unit_synthesis`` already made it (H×W×3 uint8), else None."""
    file = synthesis_file(bundle, layer, channel, params, seed)
    if not file.is_file():
        return None
    import cv2

    image = cv2.imread(str(file))
    return None if image is None else image[..., ::-1].copy()


def unit_image_files(source: str | Path) -> list[str]:
    """The images to search for each unit's top images: a folder (searched recursively; masks
    ``*_mask`` left out) or a dataset run store (its images, in run order)."""
    from .images import IMAGE_SUFFIXES

    root = Path(source)
    if root.is_dir():
        files = [str(p) for p in sorted(root.rglob("*"))
                 if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_mask")]
    elif root.is_file():
        from .workbench.store import open_store

        with open_store(root) as store:
            files = [row["path"] for row in store.images()]
    else:
        raise FileNotFoundError(f"{source}: no such folder or run store")
    if not files:
        raise ValueError(f"{source}: no images found")
    return files
