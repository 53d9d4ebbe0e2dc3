"""Evaluating methods on a set of images: every (image, method) pair scored by the chosen
metrics, as a table (CSV / JSON) with the curves. The CLI's ``evaluate`` and the GUI's metrics
panel both call ``evaluate``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .diagnose.adversarial import map_function
from .explain import Explainer
from .images import IMAGE_SUFFIXES, load_image
from .jobs import Progress
from .metrics import faithfulness as faith
from .metrics.disagreement import method_ranks, rank_agreement
from .metrics.registry import MetricInput, get_metric

FAITHFULNESS = ("deletion", "insertion", "aopc_morf", "aopc_lerf", "average_drop")


@dataclass
class Annotation:
    """Ground truth of one image, in the original image's pixel coordinates."""

    label: int | None = None
    box: tuple[int, int, int, int] | None = None
    mask: np.ndarray | None = None


@dataclass
class EvaluationTable:
    rows: list[dict] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean of every metric per method."""
        out: dict[str, dict[str, list]] = {}
        for row in self.rows:
            for key, value in row.items():
                if key not in ("image", "method", "predicted", "target") and isinstance(value, (int, float)):
                    out.setdefault(row["method"], {}).setdefault(key, []).append(float(value))
        return {m: {k: float(np.mean(v)) for k, v in d.items()} for m, d in out.items()}

    def win_percent(self) -> dict[str, float]:
        by_method: dict[str, list[float]] = {}
        for row in self.rows:
            if "average_drop" in row:
                by_method.setdefault(row["method"], []).append(row["average_drop"])
        return faith.win_percent(by_method) if len(by_method) > 1 else {}

    def write_csv(self, path: str | Path) -> None:
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)

    def ranks(self) -> dict[str, dict[str, float]]:
        """{metric: {method: rank}} of the per-method means (1 = best, by each metric's direction)."""
        return method_ranks(self.summary())

    def agreement(self) -> dict[str, dict[str, float]]:
        """Spearman correlation between the method rankings of every two metrics."""
        return rank_agreement(self.ranks())

    def write_json(self, path: str | Path) -> None:
        data = {"rows": self.rows, "summary": self.summary(), "win_percent": self.win_percent(),
                "ranks": self.ranks(), "rank_agreement": self.agreement(), "curves": self.curves}
        Path(path).write_text(json.dumps(data, indent=1, default=_json_number))


def _json_number(value):
    return None if isinstance(value, float) and not np.isfinite(value) else value


def read_annotations(path: str | Path) -> dict[str, Annotation]:
    """``ground_truth.json`` (the demo format): {"images": [{"file", "label", "box", "mask"}]},
    keyed by file name; mask paths are relative to the JSON file."""
    path = Path(path)
    data = json.loads(path.read_text())
    out = {}
    for entry in data.get("images", data if isinstance(data, list) else []):
        mask = None
        if entry.get("mask"):
            mask = cv2.imread(str(path.parent / entry["mask"]), cv2.IMREAD_GRAYSCALE)
            if mask is None:
                raise ValueError(f"{path}: cannot read mask {entry['mask']}")
            mask = mask > 127
        box = tuple(int(v) for v in entry["box"]) if entry.get("box") else None
        out[Path(entry["file"]).name] = Annotation(entry.get("label"), box, mask)
    return out


def collect_images(items: list[str | Path]) -> list[Path]:
    """Image files from files and folders (folders: their image files, sorted)."""
    paths: list[Path] = []
    for item in items:
        item = Path(item)
        if item.is_dir():
            paths += sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                            and not p.stem.endswith("_mask"))
        elif item.is_file():
            paths.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    if not paths:
        raise ValueError("no images to evaluate")
    return paths


def evaluate(bundle, images: list[Path], methods: list[str], metrics: list[str] = FAITHFULNESS,
             annotations: dict[str, Annotation] | None = None, params: dict[str, dict] | None = None,
             threshold: float | None = None, progress: Progress | None = None, seed: int = 0,
             metric_params: dict[str, dict] | None = None) -> EvaluationTable:
    """Score each method's map on each image by each registered metric (for the predicted class).

    ``seed`` drives the stochastic methods and the random order of equally relevant pixels;
    ``threshold`` (if given) is the localisation threshold of every metric that has one;
    ``metric_params``: {metric: {param: value}}."""
    specs = [get_metric(m) for m in metrics]
    metric_params = {name: dict(values) for name, values in (metric_params or {}).items()}
    for spec in specs:
        if threshold is not None and any(p.name == "threshold" for p in spec.params) and spec.family == "localisation":
            metric_params.setdefault(spec.name, {}).setdefault("threshold", threshold)
        spec.resolve(metric_params.get(spec.name))  # check the parameters before any work
    table = EvaluationTable()
    progress = progress or Progress()
    progress.set_total(len(images) * len(methods))
    for path in images:
        rgb = load_image(path)
        explainer = Explainer(bundle, rgb, prefetch=True)
        truth = (annotations or {}).get(path.name)
        h, w = rgb.shape[:2]
        box = bundle.preprocess.map_box(truth.box, h, w) if truth is not None and truth.box else None
        mask = bundle.preprocess.map_mask(truth.mask) if truth is not None and truth.mask is not None else None
        predicted = explainer.prediction[0][0]
        for method in methods:
            method_params = (params or {}).get(method)
            result = explainer.explain(method, params=method_params, seed=seed)
            row = {"image": path.name, "method": method, "predicted": predicted}
            inp = MetricInput(bundle, explainer.x, result.map, None, box, mask,
                              truth.label if truth is not None else None, predicted,
                              map_function(method, predicted, result.layer, method_params, seed), seed,
                              original_mask=truth.mask if truth is not None else None,
                              geometry=bundle.preprocess.geometry(h, w))
            for spec in specs:
                missing = spec.missing(inp)
                if missing:
                    raise ValueError(f"{path.name}: {missing}" + (" (no annotation for it)" if truth is None else ""))
                res = spec.run(inp, metric_params.get(spec.name))
                row.update(spec.values(res))
                if res.curve is not None:
                    table.curves.append({"image": path.name, "metric": spec.name, "x": np.asarray(res.curve[0]).tolist(),
                                         "y": np.asarray(res.curve[1]).tolist()})
            table.rows.append(row)
            progress.step()
    return table
