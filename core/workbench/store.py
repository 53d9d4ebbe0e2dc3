"""The run store: one SQLite file per dataset run (WAL journal), readable without the app.

Schema (version 1; every JSON column is UTF-8 text):

``meta(key PRIMARY KEY, value)``
    ``schema_version``; ``identity``: JSON of what must not change within a store (weights hash,
    preprocessing, layer, explained class, seed, data source); ``classes``: JSON list of class
    names; ``source_kind``: imagefolder / csv / ground_truth / folder; ``labelled``: 0/1.
``runs(id PRIMARY KEY, created, model_spec, weights_hash, versions, params, seed, data, executor, finished)``
    One row per invocation (first run, each resume, each added method): ``created`` ISO 8601 UTC;
    ``model_spec`` JSON of the model options; ``weights_hash`` = ``sanity_verdict.weights_digest``;
    ``versions`` JSON of package versions; ``params`` JSON of methods, metrics and options;
    ``finished`` is NULL for a run that was interrupted (or is in progress).
``methods(name PRIMARY KEY, params, layer, run_id)`` / ``metrics(name PRIMARY KEY, params, outputs, run_id)``
    The resolved parameters of every method and metric in the store (fixed once written).
``images(id PRIMARY KEY, file UNIQUE, path, label, box, mask, width, height, predicted, confidence, top5, seconds, run_id)``
    ``file`` as the data source gives it; ``path`` the absolute file read; ``label`` class index or
    NULL (unlabelled); ``box`` JSON [x0, y0, x1, y1] in original pixels; ``top5`` JSON
    [[index, probability], ...]; ``seconds`` the image's share of its batch's load + forward time.
``maps(image_id, method, height, width, data, native, target, seconds, info, run_id; PRIMARY KEY(image_id, method))``
    ``data``: float16 little-endian bytes, row-major height×width, never normalised; ``native`` 1
    when it is the method's own low-resolution map (CAMs, ≤ 64×64), 0 when the input-resolution
    map was area-downsampled to fit 64×64; ``target`` the class explained; ``info`` JSON notes.
``metric_values(image_id, method, metric, output, value, note, seconds, run_id; PRIMARY KEY(image_id, method, output))``
    One number per output of each metric (``average_drop`` has two); ``value`` NULL with ``note``
    when the image lacks what the metric needs.
``skipped(file PRIMARY KEY, reason, run_id)``
    Entries that could not be read (removed again once a later run reads them).

Crash safety: each batch of images is one transaction, so ``kill -9`` loses at most the batch in
flight; the unique keys make every write idempotent, so a resumed run never duplicates a row.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCHEMA_VERSION = "1"
MAX_MAP_SIDE = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, model_spec TEXT NOT NULL,
    weights_hash TEXT NOT NULL, versions TEXT NOT NULL, params TEXT NOT NULL, seed INTEGER NOT NULL,
    data TEXT NOT NULL, executor TEXT NOT NULL, finished TEXT);
CREATE TABLE IF NOT EXISTS methods(name TEXT PRIMARY KEY, params TEXT NOT NULL, layer TEXT, run_id INTEGER);
CREATE TABLE IF NOT EXISTS metrics(name TEXT PRIMARY KEY, params TEXT NOT NULL, outputs TEXT NOT NULL,
    run_id INTEGER);
CREATE TABLE IF NOT EXISTS images(id INTEGER PRIMARY KEY, file TEXT NOT NULL UNIQUE, path TEXT NOT NULL,
    label INTEGER, box TEXT, mask TEXT, width INTEGER, height INTEGER, predicted INTEGER NOT NULL,
    confidence REAL NOT NULL, top5 TEXT NOT NULL, seconds REAL NOT NULL, run_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS maps(image_id INTEGER NOT NULL REFERENCES images(id), method TEXT NOT NULL,
    height INTEGER NOT NULL, width INTEGER NOT NULL, data BLOB NOT NULL, native INTEGER NOT NULL,
    target INTEGER NOT NULL, seconds REAL NOT NULL, info TEXT, run_id INTEGER NOT NULL,
    PRIMARY KEY(image_id, method));
CREATE TABLE IF NOT EXISTS metric_values(image_id INTEGER NOT NULL REFERENCES images(id), method TEXT NOT NULL,
    metric TEXT NOT NULL, output TEXT NOT NULL, value REAL, note TEXT, seconds REAL, run_id INTEGER NOT NULL,
    PRIMARY KEY(image_id, method, output));
CREATE TABLE IF NOT EXISTS skipped(file TEXT PRIMARY KEY, reason TEXT NOT NULL, run_id INTEGER);
"""


class StoreError(ValueError):
    """A store that cannot be used for this request (another model, other parameters, not a store)."""


@dataclass
class MapRecord:
    """One method's map of one image, as stored (float16, ≤ 64×64)."""

    data: np.ndarray
    native: bool
    target: int
    seconds: float = 0.0
    info: dict = field(default_factory=dict)


@dataclass
class ImageRecord:
    """Everything a worker computed for one image; ``values``: {(method, metric, output): (value, note, s)}."""

    file: str
    path: str
    label: int | None
    box: tuple | None
    mask: str | None
    width: int
    height: int
    predicted: int
    confidence: float
    top5: list[tuple[int, float]]
    seconds: float
    maps: dict[str, MapRecord] = field(default_factory=dict)
    values: dict[tuple[str, str, str], tuple[float | None, str | None, float]] = field(default_factory=dict)


def to_float16(m: np.ndarray) -> np.ndarray:
    """A map as float16 (values beyond float16's range are clipped, NaN becomes 0)."""
    m = np.nan_to_num(np.asarray(m, np.float32), nan=0.0)
    top = float(np.finfo(np.float16).max)
    return np.clip(m, -top, top).astype(np.float16)


class RunStore:
    """An open store. ``RunStore(path)`` opens (and, with ``create=True``, creates) the file."""

    def __init__(self, path: str | Path, create: bool = False):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such run store")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
            self.db.execute("PRAGMA foreign_keys=ON")
            if create:
                self.db.executescript(_SCHEMA)
            version = self.meta("schema_version")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a run store ({exc})") from None
        if version is None and create:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: not a run store of schema {SCHEMA_VERSION} (found {version!r})")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- meta and provenance -----------------------------------------------------------------

    def meta(self, key: str, default=None):
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return default
        return row[0] if row else default

    def set_meta(self, key: str, value) -> None:
        self.db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                        (key, value if isinstance(value, str) else json.dumps(value)))

    @property
    def classes(self) -> list[str]:
        return json.loads(self.meta("classes", "[]"))

    @property
    def labelled(self) -> bool:
        return self.meta("labelled", "0") == "1"

    def identity(self) -> dict | None:
        text = self.meta("identity")
        return json.loads(text) if text else None

    def methods(self) -> dict[str, dict]:
        return {n: {"params": json.loads(p), "layer": layer}
                for n, p, layer in self.db.execute("SELECT name, params, layer FROM methods ORDER BY rowid")}

    def metrics(self) -> dict[str, dict]:
        return {n: {"params": json.loads(p), "outputs": json.loads(o)}
                for n, p, o in self.db.execute("SELECT name, params, outputs FROM metrics ORDER BY rowid")}

    def runs(self) -> list[dict]:
        cur = self.db.execute("SELECT * FROM runs ORDER BY id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur]

    def begin_run(self, *, model_spec: dict, weights_hash: str, versions: dict, params: dict, seed: int,
                  data: str, executor: str) -> int:
        cur = self.db.execute(
            "INSERT INTO runs(created, model_spec, weights_hash, versions, params, seed, data, executor) "
            "VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
            (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), json.dumps(model_spec), weights_hash,
             json.dumps(versions), json.dumps(params), int(seed), data, executor))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET finished=? WHERE id=?", (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                                   run_id))

    def add_method(self, name: str, params: dict, layer: str | None, run_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO methods(name, params, layer, run_id) VALUES(?, ?, ?, ?)",
                        (name, json.dumps(params, sort_keys=True), layer, run_id))

    def add_metric(self, name: str, params: dict, outputs: list[str], run_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO metrics(name, params, outputs, run_id) VALUES(?, ?, ?, ?)",
                        (name, json.dumps(params, sort_keys=True), json.dumps(outputs), run_id))

    # --- writing -----------------------------------------------------------------------------

    def write_batch(self, records: list[ImageRecord], skipped: list[dict], run_id: int) -> None:
        """One transaction: the batch's images, maps and metric values, and its skipped files.
        Rows that already exist are left as they are (resume never duplicates)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for rec in records:
                db.execute(
                    "INSERT INTO images(file, path, label, box, mask, width, height, predicted, confidence, top5, "
                    "seconds, run_id) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(file) DO NOTHING",
                    (rec.file, rec.path, rec.label, json.dumps(list(rec.box)) if rec.box else None, rec.mask,
                     rec.width, rec.height, rec.predicted, rec.confidence,
                     json.dumps([[int(i), float(p)] for i, p in rec.top5]), rec.seconds, run_id))
                image_id = db.execute("SELECT id FROM images WHERE file=?", (rec.file,)).fetchone()[0]
                for method, m in rec.maps.items():
                    data = to_float16(m.data)
                    db.execute("INSERT OR IGNORE INTO maps(image_id, method, height, width, data, native, target, "
                               "seconds, info, run_id) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (image_id, method, data.shape[0], data.shape[1], data.astype("<f2").tobytes(),
                                int(m.native), m.target, m.seconds, json.dumps(m.info, default=str), run_id))
                for (method, metric, output), (value, note, seconds) in rec.values.items():
                    value = None if value is None or not np.isfinite(value) else float(value)
                    db.execute("INSERT OR IGNORE INTO metric_values(image_id, method, metric, output, value, note, "
                               "seconds, run_id) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                               (image_id, method, metric, output, value, note, seconds, run_id))
                db.execute("DELETE FROM skipped WHERE file=?", (rec.file,))
            for entry in skipped:
                db.execute("INSERT OR REPLACE INTO skipped(file, reason, run_id) VALUES(?, ?, ?)",
                           (entry["file"], entry["reason"], run_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # --- reading -----------------------------------------------------------------------------

    def done(self) -> tuple[set[str], set[tuple[str, str]], set[tuple[str, str, str]]]:
        """(files with a prediction, (file, method) with a map, (file, method, output) with a value)."""
        files = {r[0] for r in self.db.execute("SELECT file FROM images")}
        maps = set(self.db.execute("SELECT i.file, m.method FROM maps m JOIN images i ON i.id = m.image_id"))
        values = set(self.db.execute("SELECT i.file, v.method, v.output FROM metric_values v "
                                     "JOIN images i ON i.id = v.image_id"))
        return files, maps, values

    def skipped(self) -> list[dict]:
        return [{"file": f, "reason": r} for f, r in self.db.execute("SELECT file, reason FROM skipped ORDER BY file")]

    def count(self, table: str) -> int:
        if table not in ("images", "maps", "metric_values", "skipped", "runs"):
            raise ValueError(f"no table {table!r}")
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def images(self) -> list[dict]:
        """Every image row, in insertion order, with ``top5`` and ``box`` decoded."""
        cur = self.db.execute("SELECT id, file, path, label, box, mask, width, height, predicted, confidence, top5, "
                              "seconds FROM images ORDER BY id")
        names = [d[0] for d in cur.description]
        rows = []
        for row in cur:
            r = dict(zip(names, row))
            r["top5"] = json.loads(r["top5"])
            r["box"] = json.loads(r["box"]) if r["box"] else None
            rows.append(r)
        return rows

    def values(self) -> dict[int, dict[str, float | None]]:
        """{image id: {"METHOD.OUTPUT": value}}."""
        out: dict[int, dict] = {}
        for image_id, method, output, value in self.db.execute(
                "SELECT image_id, method, output, value FROM metric_values"):
            out.setdefault(image_id, {})[f"{method}.{output}"] = value
        return out

    def maps(self, method: str) -> dict[int, np.ndarray]:
        """{image id: float32 map} of ``method`` at the stored resolution."""
        out = {}
        for image_id, h, w, data in self.db.execute(
                "SELECT image_id, height, width, data FROM maps WHERE method=? ORDER BY image_id", (method,)):
            out[image_id] = np.frombuffer(data, "<f2").reshape(h, w).astype(np.float32)
        return out

    def map(self, image_id: int, method: str) -> np.ndarray | None:
        """One stored map (float32) of ``method`` for one image, or None."""
        row = self.db.execute("SELECT height, width, data FROM maps WHERE image_id=? AND method=?",
                              (image_id, method)).fetchone()
        return None if row is None else np.frombuffer(row[2], "<f2").reshape(row[0], row[1]).astype(np.float32)

    def interrupted(self) -> dict | None:
        """The last run when it did not finish (interrupted, or still in progress), else None."""
        runs = self.runs()
        return runs[-1] if runs and runs[-1]["finished"] is None else None

    def map_methods(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT method FROM maps ORDER BY method")]


def open_store(path: str | Path) -> RunStore:
    """An existing store, for reading (export, clusters, report)."""
    return RunStore(path, create=False)
