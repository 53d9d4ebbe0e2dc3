"""The work of a dataset run on one batch of images: load, predict, explain, measure.

Several images share one forward and one backward pass: in eval mode images do not interact,
so the gradient of the sum of the per-image target scores is each image's own gradient
(as in ``methods.gradients.batch_gradients``). The pass that predicts a chunk also records the
layer's activations and gradients when a layer method is asked for; each image's share sits in a
``ChunkCache`` under the key the methods look up, and a request the cache cannot serve (the input
gradient of saliency or input × gradient) captures the whole chunk in one more batched pass. So
the registered Grad-CAM family and plain-gradient methods build their maps with their own code
from batched passes; every other method runs its own passes per image, as under ``Explainer``. Models whose
forward depends on the batch (batch-statistics BatchNorm) or changes buffers run one image per
forward. Metrics come from the metric registry, on the input-resolution map.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..batching import default_batch_size
from ..capture import Capture, CaptureCache, fingerprint, forward_hooked
from ..images import ImageLoadError, load_image
from ..jobs import Progress
from ..layers import default_layer
from ..messages import first_line
from ..methods import MethodContext, get_method
from ..metrics.registry import MetricInput, get_metric
from ..models.checks import batch_stat_layers
from ..targets import ClassTarget
from .faithfulness_batch import MODES as CURVE_MODES
from .faithfulness_batch import CurveRequest, curves_many
from .sources import Item
from .spec import RunOptions
from .store import MAX_MAP_SIDE, ImageRecord, MapRecord


@dataclass(frozen=True)
class WorkUnit:
    """One image and the methods still missing for it (empty: only the prediction)."""

    item: Item
    methods: tuple[str, ...]


def batched_capture(bundle, xs: torch.Tensor, targets, layers, input_grad: bool) -> tuple[list[Capture], list]:
    """Per-image ``Capture``s of ``layers`` (and the input gradient) from one forward and one
    backward over the batch ``xs``, each image scored by its own target (eval mode: images are
    independent, so d(Σ scores)/d(image i) is image i's own gradient). ``targets``: one per
    image, or a function of the batch's logits giving them (e.g. each image's predicted class)."""
    layers = list(dict.fromkeys(layers))
    xs = xs.detach().requires_grad_(input_grad)
    with torch.enable_grad():
        logits, acts = forward_hooked(bundle, xs, layers)
        targets = list(targets(logits.detach()) if callable(targets) else targets)
        score = torch.cat([t.score(logits[i:i + 1], {}) for i, t in enumerate(targets)])
        wrt = [acts[n] for n in layers] + ([xs] if input_grad else [])
        grads = torch.autograd.grad(score.sum(), wrt, allow_unused=True) if wrt else []
    unreached = frozenset(n for n, g in zip(layers, grads) if g is None)
    grads = [torch.zeros_like(t) if g is None else g.detach() for t, g in zip(wrt, grads)]
    logits, score = logits.detach(), score.detach()
    return [Capture(logits=logits[i:i + 1], score=score[i:i + 1],
                    activations={n: acts[n][i:i + 1].detach() for n in layers},
                    gradients={n: g[i:i + 1] for n, g in zip(layers, grads)},
                    input_grad=grads[-1][i:i + 1] if input_grad else None, unreached=unreached,
                    calls={n: acts.calls.get(n, 1) for n in layers}) for i in range(len(xs))], targets


class ChunkCache(CaptureCache):
    """A ``CaptureCache`` over a chunk of images and their targets: the first request for any of
    them that misses captures the whole chunk in one batched pass (``batched_capture``), so every
    method that reads the cache (the Grad-CAM family, saliency, input × gradient) gets each
    image's share without a pass of its own. Other inputs (perturbed copies) are served as usual."""

    def __init__(self, bundle, xs: list[torch.Tensor], targets: list):
        super().__init__(maxsize=2 * len(xs) + 8)
        self.bundle, self.xs, self.targets = bundle, xs, targets
        self.keys = [(id(bundle.net), fingerprint(x), t) for x, t in zip(xs, targets)]
        self.batched_passes = 0

    def put(self, i: int, layers, cap: Capture) -> None:
        self._entries[self.keys[i]] = (frozenset(layers), cap)
        self._entries.move_to_end(self.keys[i])

    def get(self, bundle, x, target, layers=(), input_grad: bool = False) -> Capture:
        key = (id(bundle.net), fingerprint(x), target)
        if bundle is not self.bundle or key not in self.keys:
            return super().get(bundle, x, target, layers, input_grad)
        entry = self._entries.get(key)
        layers = frozenset(layers)
        if entry is not None:
            have, cap = entry
            if layers <= have and (not input_grad or cap.input_grad is not None):
                return cap
            layers, input_grad = layers | have, input_grad or cap.input_grad is not None
        caps, _ = batched_capture(bundle, torch.cat(self.xs), self.targets, sorted(layers), input_grad)
        self.batched_passes += 1
        self.passes += 1
        for i, cap in enumerate(caps):
            self.put(i, layers, cap)
        return self._entries[key][1]


def batch_dependent(bundle) -> bool:
    """True when one image's output depends on the rest of its batch, or a pass changes buffers."""
    return bool(bundle.mutates_buffers or batch_stat_layers(bundle.net)
                or any("in its batch" in w for w in getattr(bundle, "warnings", [])))


def store_map(full: np.ndarray, low: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """(the map kept in the store, native?): the method's low-resolution map when it fits
    64×64, else the input-resolution map area-downsampled to fit."""
    if low is not None and low.ndim == 2 and max(low.shape) <= MAX_MAP_SIDE:
        return low, True
    h, w = full.shape
    scale = min(1.0, MAX_MAP_SIDE / max(h, w))
    if scale == 1.0:
        return full, False
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(full, size, interpolation=cv2.INTER_AREA), False


def _numpy(t) -> np.ndarray | None:
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        t = t.detach().to("cpu", torch.float32).numpy()
    return np.nan_to_num(np.ascontiguousarray(t, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)


class Worker:
    """Computes ``ImageRecord``s for batches of ``WorkUnit``s with one loaded model."""

    def __init__(self, bundle, options: RunOptions):
        self.bundle = bundle
        self.options = options
        self.specs = {name: get_method(name) for name in options.methods}
        self.metric_specs = {name: get_metric(name) for name in options.metrics}
        self.params = {name: spec.resolve(options.methods[name]) for name, spec in self.specs.items()}
        self.metric_params = {name: spec.resolve(options.metrics[name]) for name, spec in self.metric_specs.items()}
        needs_layer = any(s.needs_layer for s in self.specs.values())
        self.layer = (options.layer or default_layer(bundle)) if needs_layer else None
        self.per_image = batch_dependent(bundle)
        self.batch_size = options.batch_size or default_batch_size(bundle.device, backward=True)
        self.passes = 0  # batched passes with a backward (each over a whole chunk of images)
        # deletion / insertion of all the chunk's images and methods in shared batches (False: per image)
        self.batch_curves = (not self.per_image and set(self.metric_params.get("deletion", {})) <= {"fill"}
                             and not self.metric_params.get("insertion"))  # params the batched path knows
        self._curves: list = []

    @classmethod
    def from_spec(cls, spec, options: RunOptions, device: str | None = None) -> "Worker":
        return cls(spec.load(device), options)

    def process(self, units: list[WorkUnit], progress: Progress | None = None
                ) -> tuple[list[ImageRecord], list[dict]]:
        """Records of the readable images of ``units`` and {"file", "reason"} of the others."""
        t0 = time.perf_counter()
        loaded, skipped = [], []
        for unit in units:
            try:
                rgb = load_image(unit.item.path)
            except ImageLoadError as exc:
                skipped.append({"file": unit.item.file, "reason": first_line(exc)})
                continue
            display, x = self.bundle.prepare(rgb)
            loaded.append((unit, rgb.shape[:2], x))
        records = []
        chunk = 1 if self.per_image else max(1, len(loaded))
        for start in range(0, len(loaded), chunk):
            part = loaded[start:start + chunk]
            records += self._chunk(part, t0, progress)
            t0 = time.perf_counter()
        return records, skipped

    def _chunk(self, part, t0: float, progress: Progress | None) -> list[ImageRecord]:
        """Predict the chunk (with the layer's capture when a layer method will need it), then
        explain and measure image by image from a ``ChunkCache``."""
        methods = {m for unit, _, _ in part for m in unit.methods}
        self._curves = []
        layers = [self.layer] if any(self.specs[m].needs_layer for m in methods) else []
        xs = [x for _, _, x in part]
        labels = [unit.item.label for unit, _, _ in part]
        choose = lambda logits: [self._target(p, lab) for p, lab in zip(logits.argmax(1).tolist(), labels)]  # noqa: E731
        if layers:  # one pass: the predictions, and the layer's activations and gradients for their targets
            captures, targets = batched_capture(self.bundle, torch.cat(xs), choose, layers, False)
            logits = torch.cat([c.logits for c in captures])
        else:
            with torch.inference_mode():
                logits = self.bundle.fast_logits(torch.cat(xs))
            targets = choose(logits)
        cache = ChunkCache(self.bundle, xs, targets)
        if layers:
            for i, cap in enumerate(captures):
                cache.put(i, layers, cap)
        probs = self.bundle.probabilities(logits).cpu()
        top = torch.topk(probs, min(5, probs.shape[1]), dim=1)
        share = (time.perf_counter() - t0) / max(1, len(part))
        records = []
        for i, (unit, (h, w), x) in enumerate(part):
            if progress is not None:
                progress.check()
            rec = ImageRecord(unit.item.file, unit.item.path, unit.item.label, unit.item.box, unit.item.mask,
                              int(w), int(h), int(top.indices[i, 0]), float(top.values[i, 0]),
                              [(int(k), float(p)) for p, k in zip(top.values[i], top.indices[i])], share)
            truth = _ground_truth(self.bundle, unit.item, h, w) if self.metric_specs and unit.methods else None
            for method in unit.methods:
                self._explain(rec, method, x, targets[i], cache, truth, h, w)
            records.append(rec)
        self._measure_curves(progress)
        self.passes += cache.batched_passes + bool(layers)
        return records

    def _target(self, predicted: int, label: int | None) -> ClassTarget:
        if self.options.target == "label" and label is not None:
            return ClassTarget(int(label))
        return ClassTarget(predicted)

    def _explain(self, rec: ImageRecord, method: str, x: torch.Tensor, target: ClassTarget, cache, truth,
                 h: int, w: int) -> None:
        spec = self.specs[method]
        params = self.params[method]
        ctx = MethodContext(self.bundle, x, target, self.layer if spec.needs_layer else None, Progress(), cache,
                            self.options.seed)
        t0 = time.perf_counter()
        out = spec.fn(ctx, **params)
        full = _numpy(out.map)
        seconds = time.perf_counter() - t0
        info = {k: v for k, v in out.info.items() if isinstance(v, (str, int, float, bool))}
        kept, native = store_map(full, _numpy(out.low_res))
        rec.maps[method] = MapRecord(kept, native, target.index, seconds, info)
        if not self.metric_specs:
            return
        from ..diagnose.adversarial import map_function

        box, mask, original_mask = truth or (None, None, None)
        inp = MetricInput(self.bundle, x, full, target.index, box, mask, rec.label, rec.predicted,
                          map_function(method, target.index, ctx.layer, params, self.options.seed),
                          self.options.seed, original_mask=original_mask,
                          geometry=self.bundle.preprocess.geometry(h, w))
        curves = []
        for name, mspec in self.metric_specs.items():
            t0 = time.perf_counter()
            missing = mspec.missing(inp)
            if missing:
                for out_spec in mspec.outputs:
                    rec.values[(method, name, out_spec.name)] = (None, missing, 0.0)
                continue
            if self.batch_curves and name in CURVE_MODES:
                curves.append(name)  # with the other images' curves, at the end of the chunk
                continue
            result = mspec.run(inp, self.metric_params[name])
            seconds = time.perf_counter() - t0
            for out_name, value in mspec.values(result).items():
                rec.values[(method, name, out_name)] = (value, None, seconds)
        if curves:
            fill = self.metric_params.get("deletion", {}).get("fill", "zeros")
            self._curves.append((rec, method, CurveRequest(x, full, target.index, tuple(curves), fill,
                                                           self.options.seed)))

    def _measure_curves(self, progress: Progress | None) -> None:
        """Deletion / insertion of every image and method of the chunk in shared batches."""
        if not self._curves:
            return
        t0 = time.perf_counter()
        results = curves_many(self.bundle, [req for _, _, req in self._curves], progress=progress)
        share = (time.perf_counter() - t0) / sum(len(req.modes) for _, _, req in self._curves)
        for (rec, method, req), result in zip(self._curves, results):
            for name in req.modes:
                for out_name, value in self.metric_specs[name].values(result[name]).items():
                    rec.values[(method, name, out_name)] = (value, None, share)
        self._curves = []


def _ground_truth(bundle, item: Item, h: int, w: int):
    """(box, mask in the model's input coordinates, mask in the original's) of ``item``."""
    pre = bundle.preprocess
    box = pre.map_box(item.box, h, w) if item.box else None
    original = None
    if item.mask:
        read = cv2.imread(item.mask, cv2.IMREAD_GRAYSCALE)
        original = read > 127 if read is not None and read.shape == (h, w) else None
    mask = pre.map_mask(original) if original is not None else None
    return box, mask, original
