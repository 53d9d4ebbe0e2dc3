"""A dataset run: model + data + methods + metrics, executed in batches of images and written
batch by batch to a run store (``store``), which only this driver writes.

``run_dataset`` checks everything before any work (methods make maps, metrics get what they
need, a resumed store was made with the same weights and parameters), lists what is still
missing per image (so ``--resume`` and added methods compute only that), and hands batches to an
``Executor``: ``LocalExecutor`` here (the default), ``ray_executor.RayExecutor`` across a Ray
cluster. Executors only compute; results come back to the driver, one batch per transaction.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

from ..batching import default_batch_size
from ..jobs import Progress
from ..layers import default_layer
from ..methods import get_method
from ..metrics.registry import get_metric
from ..metrics.sanity_verdict import weights_digest
from .sources import Source, read_source
from .spec import ModelSpec, RunOptions, package_versions
from .store import ImageRecord, RunStore, StoreError
from .worker import WorkUnit, Worker

TEST_DELAY_ENV = "SALIENCY_WORKBENCH_TEST_DELAY"  # seconds to sleep after each batch: crash-safety tests only

Batch = list[WorkUnit]


class Executor(Protocol):
    """Computes batches of work units and yields ``(records, skipped)`` per batch, in any order."""

    name: str  # recorded in the store's runs table; an executor may also have ``start()``, called first

    def run(self, spec: ModelSpec, options: RunOptions, batches: list[Batch],
            progress: Progress) -> Iterator[tuple[list[ImageRecord], list[dict]]]: ...


class Pause:
    """A pause switch for a running ``run_dataset``, set from another thread (the app's Pause
    button): the run waits between batches, after the last one was committed, so a paused run
    holds nothing uncommitted; cancelling the run's ``Progress`` ends the wait."""

    def __init__(self):
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait(self, progress: Progress, poll: float = 0.1) -> None:
        """Block while paused; raise ``Cancelled`` if the run is cancelled meanwhile."""
        while not self._running.wait(poll):
            progress.check()
        progress.check()


class LocalExecutor:
    """This process, one batch after another (reuses an already loaded model when given one)."""

    name = "local"

    def __init__(self, bundle=None):
        self.bundle = bundle

    def run(self, spec, options, batches, progress):
        worker = Worker(self.bundle if self.bundle is not None else spec.load(), options)
        for batch in batches:
            yield worker.process(batch, progress)


@dataclass
class RunSummary:
    store: Path
    images: int  # images in the store
    computed: int  # images computed by this run
    skipped: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    run_id: int = 0

    @property
    def images_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def resolve_options(bundle, source: Source, methods: list[str], metrics: list[str],
                    method_params: dict[str, dict] | None = None, metric_params: dict[str, dict] | None = None,
                    **options) -> RunOptions:
    """``RunOptions`` with every parameter checked and filled in; ``ValueError`` for what cannot run."""
    if not methods:
        raise ValueError("--methods names at least one method")
    resolved = {}
    for name in methods:
        spec = get_method(name)
        if spec.output != "map":
            raise ValueError(f"{name} synthesises an image, not a map of each image: it cannot be run over a dataset")
        resolved[name] = spec.resolve((method_params or {}).get(name))
    measured = {}
    for name in metrics:
        spec = get_metric(name)
        if "box" in spec.needs and not any(i.box for i in source.items):
            raise ValueError(f"metric {name} needs ground-truth boxes; the data gives none")
        if "mask_or_box" in spec.needs and not any(i.box or i.mask for i in source.items):
            raise ValueError(f"metric {name} needs ground-truth masks or boxes; the data gives none")
        if "label" in spec.needs and not source.labelled:
            raise ValueError(f"metric {name} needs the true classes; the data is unlabelled")
        measured[name] = spec.resolve((metric_params or {}).get(name))
    return RunOptions(methods=resolved, metrics=measured, **options)


def _identity(bundle, data: str, options: RunOptions) -> dict:
    pre = bundle.preprocess
    return {"weights_hash": weights_digest(bundle.net), "model": bundle.name,
            "preprocess": {"crop": list(pre.crop), "resize": pre.resize, "mean": list(pre.mean), "std": list(pre.std),
                           "channels": pre.channels, "channel_order": pre.channel_order,
                           "interpolation": pre.interpolation},
            "layer": options.layer, "target": options.target, "seed": options.seed,
            "data": str(Path(data).resolve())}


_WHAT = {"weights_hash": "model weights", "model": "model", "preprocess": "input preprocessing", "layer": "--layer",
         "target": "explained class (--target)", "seed": "--seed", "data": "data (--data)"}


def check_identity(store: RunStore, identity: dict) -> None:
    """Refuse a store made with another model or other run parameters (says which)."""
    old = store.identity()
    if old is None:
        return
    for key, what in _WHAT.items():
        if old.get(key) != identity.get(key):
            if key in ("weights_hash", "model"):
                raise StoreError(f"{store.path} was made with model {old.get('model')} (weights {old.get('weights_hash')}), "
                                 f"not {identity.get('model')} (weights {identity.get('weights_hash')}): use another --store")
            raise StoreError(f"{store.path} was made with another {what} ({old.get(key)!r}, now {identity.get(key)!r}): "
                             "use another --store")


def check_params(store: RunStore, options: RunOptions, resume: bool) -> None:
    """Refuse methods or metrics already in the store with other parameters, and repeating
    stored methods without ``--resume``."""
    stored_methods, stored_metrics = store.methods(), store.metrics()
    for name, params in options.methods.items():
        if name in stored_methods and stored_methods[name]["params"] != _plain(params):
            raise StoreError(f"{store.path} has {name} with other parameters ({stored_methods[name]['params']}, now "
                             f"{_plain(params)}): use another --store")
    for name, params in options.metrics.items():
        if name in stored_metrics and stored_metrics[name]["params"] != _plain(params):
            raise StoreError(f"{store.path} has metric {name} with other parameters "
                             f"({stored_metrics[name]['params']}, now {_plain(params)}): use another --store")
    repeated = [m for m in options.methods if m in stored_methods]
    if repeated and not resume:
        raise StoreError(f"{store.path} already has {', '.join(repeated)}: pass --resume to continue it "
                         "(new methods alone are added without --resume)")


def _plain(params: dict) -> dict:
    return json.loads(json.dumps(params, sort_keys=True))


def pending_units(store: RunStore, source: Source, options: RunOptions) -> list[WorkUnit]:
    """What each image still lacks: its prediction, a method's map or a metric's values."""
    files, maps, values = store.done()
    outputs = [o.name for name in options.metrics for o in get_metric(name).outputs]
    units = []
    for item in source.items:
        missing = tuple(m for m in options.methods if (item.file, m) not in maps
                        or any((item.file, m, o) not in values for o in outputs))
        if missing or item.file not in files:
            units.append(WorkUnit(item, missing))
    return units


def resume_arguments(store: RunStore) -> dict:
    """The model spec and the ``run_dataset`` keyword arguments that continue the store's last
    run (its data, methods, metrics, parameters, layer, explained class and batch size)."""
    runs = store.runs()
    if not runs:
        raise StoreError(f"{store.path} has no run to continue")
    last = runs[-1]
    params = json.loads(last["params"])
    methods = params.get("methods", {})
    metrics = params.get("metrics", {})
    return {"model_spec": json.loads(last["model_spec"]), "data": last["data"], "methods": list(methods),
            "metrics": list(metrics), "method_params": methods, "metric_params": metrics,
            "layer": (store.identity() or {}).get("layer"), "target": params.get("target", "predicted"),
            "batch_size": int(params.get("batch_size") or 0), "resume": True}


def run_dataset(spec: ModelSpec, data: str, methods: list[str], store_path: str | Path, *,
                metrics: list[str] = (), method_params: dict[str, dict] | None = None,
                metric_params: dict[str, dict] | None = None, resume: bool = False, layer: str | None = None,
                target: str = "predicted", batch_size: int = 0, executor: Executor | None = None,
                progress: Progress | None = None, bundle=None, pause: Pause | None = None) -> RunSummary:
    """Run (or resume, or extend) a dataset run into the store at ``store_path``. ``pause``: waits
    between batches while paused. Progress counts the images still to compute; its message says
    how many are done of how many, and how many the store already had."""
    started = time.perf_counter()
    bundle = bundle if bundle is not None else spec.load()
    source = read_source(data, bundle.labels or [])
    options = resolve_options(bundle, source, list(methods), list(metrics), method_params, metric_params,
                              layer=layer, target=target, seed=spec.seed, batch_size=batch_size)
    resolved_layer = None
    if any(get_method(m).needs_layer for m in options.methods):
        resolved_layer = layer or default_layer(bundle)
    identity = _identity(bundle, data, options)
    executor = executor or LocalExecutor(bundle)
    if hasattr(executor, "start"):
        executor.start()  # e.g. connect to a Ray cluster before the store is touched
    store_path = Path(store_path)
    existed = store_path.exists()
    store = RunStore(store_path, create=True)
    try:
        if existed:
            check_identity(store, identity)
            check_params(store, options, resume)
        else:
            store.set_meta("identity", identity)
            store.set_meta("classes", list(bundle.labels or []))
            store.set_meta("source_kind", source.kind)
            store.set_meta("labelled", "1" if source.labelled else "0")
        params = {"methods": options.methods, "metrics": options.metrics, "layer": resolved_layer,
                  "target": options.target, "batch_size": options.batch_size}
        run_id = store.begin_run(model_spec=spec.to_dict(), weights_hash=identity["weights_hash"],
                                 versions=package_versions(), params=params, seed=options.seed, data=str(data),
                                 executor=executor.name)
        for name, values in options.methods.items():
            store.add_method(name, values, resolved_layer if get_method(name).needs_layer else None, run_id)
        for name, values in options.metrics.items():
            store.add_metric(name, values, [o.name for o in get_metric(name).outputs], run_id)
        if source.skipped:
            store.write_batch([], source.skipped, run_id)
        units = pending_units(store, source, options)
        size = batch_size or default_batch_size(bundle.device, backward=True)  # images per transaction
        batches = [units[i:i + size] for i in range(0, len(units), size)]
        progress = progress or Progress()
        progress.set_total(max(1, len(units)))
        delay = float(os.environ.get(TEST_DELAY_ENV, "0") or 0)
        skipped = list(source.skipped)
        computed = 0
        before = len(source.items) - len(units)
        progress.step(0, f"0 of {len(units)} images" + (f" ({before} already in the store)" if before else ""))
        for n, (records, bad) in enumerate(executor.run(spec, options, batches, progress), 1):
            store.write_batch(records, bad, run_id)
            computed += len(records)
            skipped += bad
            progress.step(len(records) + len(bad), f"{computed} of {len(units)} images"
                          + (f" ({before} already in the store)" if before else ""))
            if delay:
                time.sleep(delay)
            if pause is not None and n < len(batches):  # before the next batch is computed
                pause.wait(progress)
        store.finish_run(run_id)
        return RunSummary(store_path, store.count("images"), computed, skipped, time.perf_counter() - started, run_id)
    finally:
        store.close()
