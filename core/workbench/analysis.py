"""Reading a run store as a table: one row per image, cohorts (correct / incorrect, per class, per
true → predicted pair, metric quantiles), sorting and filtering by any column, the confusion
matrix, and the CSV export. Spectral relevance analysis lives in ``spray`` (re-exported here).
"""

from __future__ import annotations

import csv
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .spray import Cluster, SprayResult, spray  # noqa: F401  (re-exported)
from .store import RunStore

FIXED_COLUMNS = ("file", "label", "predicted", "label_index", "predicted_index", "confidence")


@dataclass
class Table:
    """Rows (dicts with the ``columns`` plus ``id``, ``path``, ``top5``) and the store's classes."""

    columns: list[str]
    rows: list[dict]
    classes: list[str]
    directions: dict[str, str] = field(default_factory=dict)  # metric column → "higher" / "lower" is better

    @property
    def value_columns(self) -> list[str]:
        return self.columns[len(FIXED_COLUMNS):]

    def by_id(self) -> dict[int, dict]:
        return {row["id"]: row for row in self.rows}


def class_name(classes: list[str], index: int | None) -> str:
    if index is None:
        return ""
    return classes[index] if 0 <= index < len(classes) else f"class {index}"


def read_table(store: RunStore) -> Table:
    """The store as a table; value columns are ``METHOD.OUTPUT`` for every stored method and
    metric output, in the order they were added."""
    from ..metrics.registry import output_spec

    classes = store.classes
    outputs = [o for m in store.metrics().values() for o in m["outputs"]]
    value_columns = [f"{method}.{o}" for method in store.methods() for o in outputs]
    values = store.values()
    rows = []
    for img in store.images():
        row = {"id": img["id"], "path": img["path"], "top5": img["top5"], "box": img["box"],
               "file": img["file"], "label": class_name(classes, img["label"]),
               "predicted": class_name(classes, img["predicted"]),
               "label_index": img["label"] if img["label"] is not None else "",
               "predicted_index": img["predicted"], "confidence": img["confidence"]}
        got = values.get(img["id"], {})
        row.update({c: got.get(c) for c in value_columns})
        rows.append(row)
    directions = {}
    for column in value_columns:
        spec = output_spec(column.partition(".")[2])
        if spec is not None:
            directions[column] = spec.direction
    return Table(list(FIXED_COLUMNS) + value_columns, rows, classes, directions)


def write_csv(table: Table, path: str | Path) -> Path:
    """One row per image: the fixed columns, then ``METHOD.OUTPUT`` (empty where not computed)."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(table.columns)
        for row in table.rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in table.columns])
    return path


def _missing(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def sort_rows(rows: list[dict], column: str, descending: bool = False) -> list[dict]:
    """Rows ordered by ``column``; rows without a value come last either way."""
    present = [r for r in rows if not _missing(r.get(column))]
    absent = [r for r in rows if _missing(r.get(column))]
    return sorted(present, key=lambda r: r[column], reverse=descending) + absent


_OPS = {"<=": operator.le, ">=": operator.ge, "!=": operator.ne, "==": operator.eq, "=": operator.eq,
        "<": operator.lt, ">": operator.gt, "~": lambda a, b: str(b).lower() in str(a).lower()}
_FILTER = re.compile(r"^\s*([^<>=!~]+?)\s*(<=|>=|!=|==|=|<|>|~)\s*(.*?)\s*$")


def parse_filter(text: str) -> tuple[str, str, object]:
    """``"gradcam.deletion<=0.2"``, ``"label=circle"``, ``"file~biased"`` → (column, op, value)."""
    found = _FILTER.match(text)
    if not found:
        raise ValueError(f"a filter is COLUMN OP VALUE with OP one of {', '.join(_OPS)}, not {text!r}")
    column, op, value = found.groups()
    try:
        value = float(value)
    except ValueError:
        pass
    return column, op, value


def filter_rows(rows: list[dict], *conditions: str | tuple) -> list[dict]:
    """Rows meeting every condition (a string for ``parse_filter`` or a (column, op, value) tuple)."""
    parsed = [parse_filter(c) if isinstance(c, str) else c for c in conditions]
    out = []
    for row in rows:
        keep = True
        for column, op, value in parsed:
            if column not in row:
                raise ValueError(f"no column {column!r}; columns: {', '.join(k for k in row if k not in ('id', 'path'))}")
            cell = row[column]
            if _missing(cell) and op != "~":
                keep = False
                break
            if isinstance(value, float) and not isinstance(cell, (int, float)):
                try:
                    cell = float(cell)
                except (TypeError, ValueError):
                    keep = False
                    break
            if not _OPS[op](cell, value):
                keep = False
                break
        if keep:
            out.append(row)
    return out


@dataclass
class Cohort:
    name: str
    kind: str  # outcome / class / confusion / quantile
    ids: list[int]


def cohorts(table: Table, quantiles: int = 4) -> list[Cohort]:
    """Correct / incorrect and true → predicted pairs (labelled rows), per class (true class where
    known, else predicted), and the ``quantiles`` bins of every metric column (Q1 = lowest)."""
    out: list[Cohort] = []
    labelled = [r for r in table.rows if r["label_index"] != ""]
    if labelled:
        out.append(Cohort("correct", "outcome", [r["id"] for r in labelled if r["label_index"] == r["predicted_index"]]))
        out.append(Cohort("incorrect", "outcome",
                          [r["id"] for r in labelled if r["label_index"] != r["predicted_index"]]))
    per_class: dict[int, list[int]] = {}
    for r in table.rows:
        per_class.setdefault(r["label_index"] if r["label_index"] != "" else r["predicted_index"], []).append(r["id"])
    out += [Cohort(f"class {class_name(table.classes, k)}", "class", ids) for k, ids in sorted(per_class.items())]
    pairs: dict[tuple[int, int], list[int]] = {}
    for r in labelled:
        if r["label_index"] != r["predicted_index"]:
            pairs.setdefault((r["label_index"], r["predicted_index"]), []).append(r["id"])
    for (t, p), ids in sorted(pairs.items(), key=lambda kv: -len(kv[1])):
        out.append(Cohort(f"{class_name(table.classes, t)} → {class_name(table.classes, p)}", "confusion", ids))
    for column in table.value_columns:
        present = [r for r in table.rows if not _missing(r.get(column))]
        if len(present) < quantiles:
            continue
        values = np.array([r[column] for r in present], float)
        edges = np.quantile(values, np.linspace(0, 1, quantiles + 1))
        bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, quantiles - 1)
        for q in range(quantiles):
            ids = [r["id"] for r, b in zip(present, bins) if b == q]
            out.append(Cohort(f"{column} Q{q + 1} [{edges[q]:.3g}, {edges[q + 1]:.3g}]", "quantile", ids))
    return out


def confusion(table: Table) -> np.ndarray:
    """K×K counts (rows: true class, columns: predicted) over the labelled rows."""
    k = max([len(table.classes)] + [int(r["predicted_index"]) + 1 for r in table.rows]
            + [int(r["label_index"]) + 1 for r in table.rows if r["label_index"] != ""])
    m = np.zeros((k, k), np.int64)
    for r in table.rows:
        if r["label_index"] != "":
            m[int(r["label_index"]), int(r["predicted_index"])] += 1
    return m


def worst(table: Table, column: str, n: int = 8) -> list[dict]:
    """The ``n`` rows worst by a metric column (by its direction: lowest of a higher-is-better one)."""
    ordered = sort_rows(table.rows, column, descending=table.directions.get(column) == "lower")
    return [r for r in ordered if not _missing(r.get(column))][:n]
