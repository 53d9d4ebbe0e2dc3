"""The Dataset workspace's calls into ``core.workbench`` (sources, the run store, runs, cohorts,
SpRAy, thumbnails), one function per core API, so the GUI has one place to follow when they
change. Core modules are imported on first use (the window opens before torch loads). No engine
work lives here: every function forwards to core or packs its answer for the widgets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


# ----- what can be run -----
def demo_folder() -> Path:
    """The bundled demo images with their ground_truth.json (``core.datasets.samples``)."""
    from core.datasets.samples import FOLDER

    return FOLDER


def map_methods() -> dict:
    """{name: MethodSpec} of the methods that make a map of each image (dataset runs need maps)."""
    from core.methods import REGISTRY

    return {name: spec for name, spec in REGISTRY.items() if spec.output == "map"}


def metrics() -> dict:
    from core.metrics.registry import all_metrics

    return all_metrics()


@dataclass
class DataSummary:
    kind: str
    images: int
    skipped: list[dict]
    labelled: bool
    boxes: bool
    masks: bool


def read_data(data: str, classes: list[str]) -> DataSummary:
    """What ``core.workbench.sources.read_source`` finds in ``data`` (lists files; decodes nothing)."""
    from core.workbench.sources import read_source

    source = read_source(data, classes)
    return DataSummary(source.kind, len(source.items), list(source.skipped), source.labelled,
                       any(i.box for i in source.items), any(i.mask for i in source.items))


def missing_for(metric_spec, data: DataSummary | None) -> str:
    """Why a metric cannot be run on ``data`` (a short phrase), or ""."""
    if data is None:
        return ""
    needs = metric_spec.needs
    if "box" in needs and not data.boxes:
        return "needs ground-truth boxes"
    if "mask_or_box" in needs and not (data.boxes or data.masks):
        return "needs ground-truth masks or boxes"
    if "label" in needs and not data.labelled:
        return "needs the true classes"
    return ""


def passes_per_image(methods: list[str], metric_names: list[str], input_hw) -> int:
    """Network passes per image: each method's passes, plus each metric's per method (registry costs;
    a metric that recomputes the map pays the method's passes again)."""
    specs, mspecs = map_methods(), metrics()
    hw = tuple(input_hw)
    total = 0
    for m in methods:
        own = int(specs[m].passes(None, hw))
        total += own
        for name in metric_names:
            spec = mspecs[name]
            recompute = spec.recomputes if isinstance(spec.recomputes, int) else 1
            total += int(spec.cost(hw, spec.resolve({}))) + recompute * own
    return total


def format_seconds(seconds: float) -> str:
    from core.methods import format_seconds as fmt

    return fmt(seconds)


# ----- running -----
def model_spec(loaded):
    """``core.workbench.spec.ModelSpec`` of a ``session.LoadedModel`` (what the store records)."""
    from core.workbench.spec import ModelSpec

    inputs = loaded.inputs
    text = (lambda v: None if v is None else ",".join(str(x) for x in v) if isinstance(v, (tuple, list))  # noqa: E731
            else str(v))
    extra = {}
    if inputs is not None:
        extra = {"input_size": text(inputs.input_size), "resize": text(inputs.resize),
                 "channels": text(inputs.channels), "mean": text(inputs.mean), "std": text(inputs.std),
                 "channel_order": inputs.channel_order}
    return ModelSpec(model=loaded.spec, weights=loaded.weights, trust=loaded.trust, device=loaded.device, **extra)


def load_arguments(spec: dict) -> tuple:
    """(model, weights, trust, InputSpec or None) for ``Session.load_model`` from a stored model spec."""
    from core.models import spec_from_options

    keys = ("input_size", "resize", "channels", "mean", "std", "channel_order")
    inputs = spec_from_options(*(spec.get(k) for k in keys)) if any(spec.get(k) for k in keys) else None
    return spec.get("model"), spec.get("weights") or "DEFAULT", bool(spec.get("trust")), inputs


def new_pause():
    from core.workbench.run import Pause

    return Pause()


def default_store(model_name: str) -> Path:
    """A new run store under the user's data folder (``core.paths``)."""
    from core.paths import user_dirs

    folder = user_dirs().data / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(model_name).stem)
    return folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.sqlite"


def run(spec, bundle, data: str, methods: list[str], metric_names: list[str], store: Path, *, resume: bool,
        batch_size: int, target: str, layer, progress, pause, method_params=None, metric_params=None):
    """``core.workbench.run.run_dataset`` with the session's (private copy of the) model."""
    from core.workbench.run import run_dataset

    return run_dataset(spec, data, methods, store, metrics=metric_names, method_params=method_params,
                       metric_params=metric_params, resume=resume, layer=layer, target=target,
                       batch_size=batch_size, progress=progress, bundle=bundle, pause=pause)


def resume_arguments(store: Path) -> dict:
    from core.workbench.run import resume_arguments as args
    from core.workbench.store import open_store

    with open_store(store) as s:
        return args(s)


# ----- reading a store -----
@dataclass
class RunView:
    """A store as the workspace shows it: the table, cohorts, and what the run was."""

    path: Path
    table: object  # core.workbench.analysis.Table
    cohorts: list
    methods: dict
    metrics: dict
    map_methods: list[str]
    identity: dict
    model_spec: dict
    interrupted: bool
    skipped: list[dict]
    preprocess: object = None
    row_of: dict = field(default_factory=dict)  # image id → row

    @property
    def model(self) -> str:
        return self.model_spec.get("model") or self.identity.get("model", "")


def read_run(path: Path) -> RunView:
    """Everything the workspace shows of the store at ``path`` (opened read-only)."""
    import json

    from core.workbench.analysis import cohorts, read_table
    from core.workbench.store import open_store
    from core.workbench.thumbnails import preprocess_of

    with open_store(path) as store:
        table = read_table(store)
        runs = store.runs()
        identity = store.identity() or {}
        view = RunView(Path(path), table, cohorts(table), store.methods(), store.metrics(), store.map_methods(),
                       identity, json.loads(runs[-1]["model_spec"]) if runs else {},
                       store.interrupted() is not None, store.skipped(), preprocess_of(identity))
    view.row_of = table.by_id()
    return view


def sort_rows(rows: list[dict], column: str, descending: bool) -> list[dict]:
    from core.workbench.analysis import sort_rows as sort

    return sort(rows, column, descending)


def filter_rows(rows: list[dict], condition: str) -> list[dict]:
    """Rows meeting ``condition`` (``core.workbench.analysis.parse_filter``); ValueError if unreadable."""
    from core.workbench.analysis import filter_rows as keep

    return keep(rows, condition) if condition.strip() else rows


def load_maps(path: Path, method: str) -> dict[int, np.ndarray]:
    """{image id: float16 map} of ``method`` (kept as float16: 10,000 maps of 64×64 are 80 MB)."""
    from core.workbench.store import open_store

    with open_store(path) as store:
        return {k: v.astype(np.float16) for k, v in store.maps(method).items()}


def clusters(path: Path, method: str, progress=None):
    """``core.workbench.spray.spray`` (t-SNE embedding) of the store's maps of ``method``."""
    from core.workbench.spray import spray
    from core.workbench.store import open_store

    with open_store(path) as store:
        return spray(store, method, embedding="tsne")


def thumbnail(path: str, side: int, preprocess, attr_map) -> np.ndarray:
    from core.workbench.thumbnails import thumbnail as draw

    return draw(path, side, preprocess, None if attr_map is None else attr_map.astype(np.float32))


def colorize(attr_map: np.ndarray) -> np.ndarray:
    from core.render import colorize as colour

    return colour(np.asarray(attr_map, np.float32))
