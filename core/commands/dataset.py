"""``saliency-studio dataset run | export | clusters | report``: explain and measure a whole
dataset into a resumable run store, then read it back as a CSV table, SpRAy clusters (Lapuschkin
et al. 2019) or a self-contained HTML report (``core/workbench``)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .common import Parser, UsageError, model_arguments, parse_params

EXECUTORS = ("local", "ray")


def register(sub) -> dict:
    p = sub.add_parser("dataset", help="explain and measure a whole dataset into a resumable run store; "
                                       "export, cluster (SpRAy) and report it")
    verbs = p.add_subparsers(dest="dataset_command", parser_class=Parser)
    r = verbs.add_parser("run", help="run methods and metrics over a dataset into a run store")
    model_arguments(r)
    r.add_argument("--data", required=True, help="ImageFolder tree, CSV (file,label[,x0,y0,x1,y1][,mask]), "
                                                  "ground_truth.json (or its folder), or a folder of images")
    r.add_argument("--methods", required=True, help="comma-separated method names")
    r.add_argument("--metrics", default="", help="comma-separated metric names ('saliency-studio metrics' lists them)")
    r.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE",
                   help="parameter of one method, or of one metric (METRIC.NAME=VALUE)")
    r.add_argument("--store", required=True, help="the run store (an SQLite file) to create or continue")
    r.add_argument("--resume", action="store_true", help="continue an interrupted run (never duplicates a row)")
    r.add_argument("--layer", default=None, help="layer of layer methods (default: the model's last spatial block)")
    r.add_argument("--target", default="predicted", choices=("predicted", "label"),
                   help="class explained: the predicted one, or the true label where known")
    r.add_argument("--batch-size", type=int, default=0, help="images per forward/backward (0: chosen for the device)")
    r.add_argument("--executor", default="local", choices=EXECUTORS, help="local (default) or ray")
    r.add_argument("--ray-address", default=None,
                   help="Ray cluster address (e.g. auto, or HEAD_IP:6379 after 'ray start --head'); "
                        "default: a local Ray instance")
    r.add_argument("--workers", type=int, default=0, help="Ray actors (0: one per GPU, else per --cpus-per-worker CPUs)")
    r.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs per Ray actor")
    e = verbs.add_parser("export", help="one CSV row per image: prediction, label and every METHOD.METRIC")
    e.add_argument("store")
    e.add_argument("--csv", required=True, help="the CSV file to write")
    c = verbs.add_parser("clusters", help="spectral relevance analysis (SpRAy) of a method's maps, per class")
    c.add_argument("store")
    c.add_argument("--method", required=True, help="a method in the store")
    c.add_argument("--json", required=True, help="write {clusters: [{class, cluster, members, mean_map}], ...}")
    c.add_argument("--max-clusters", type=int, default=8, help="largest number of clusters per class")
    c.add_argument("--embedding", default="tsne", choices=("tsne", "spectral", "none"),
                   help="2-D embedding written per image (t-SNE by default)")
    c.add_argument("--seed", type=int, default=0)
    h = verbs.add_parser("report", help="a self-contained HTML page: summary, confusion, worst cohorts, clusters")
    h.add_argument("store")
    h.add_argument("--html", required=True, help="the HTML file to write")
    h.add_argument("--method", default=None, help="method whose clusters are shown (default: the first)")
    return {"dataset": _cmd_dataset}


def _cmd_dataset(args) -> int:
    verb = getattr(args, "dataset_command", None)
    if verb is None:
        raise UsageError("choose one of: dataset run, dataset export, dataset clusters, dataset report")
    return {"run": _run, "export": _export, "clusters": _clusters, "report": _report}[verb](args)


def _split(text: str) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _params(items: list[str], methods: list[str], metrics: list[str]) -> tuple[dict, dict]:
    method_params: dict[str, dict] = {}
    metric_params: dict[str, dict] = {}
    for name, value in parse_params(items).items():
        owner, dot, pname = name.partition(".")
        if not dot or (owner not in methods and owner not in metrics):
            raise UsageError(f"--param is METHOD.NAME=VALUE or METRIC.NAME=VALUE with METHOD in --methods or "
                             f"METRIC in --metrics, not {name!r}")
        (method_params if owner in methods else metric_params).setdefault(owner, {})[pname] = value
    return method_params, metric_params


def _executor(args):
    if args.executor == "local":
        if args.ray_address:
            raise UsageError("--ray-address needs --executor ray")
        return None
    try:
        from ..workbench.ray_executor import RayExecutor
    except ImportError as exc:
        raise UsageError(f"the Ray executor needs Ray: pip install 'saliency-studio[cluster]' ({exc})") from None
    return RayExecutor(address=args.ray_address, workers=args.workers, cpus_per_worker=args.cpus_per_worker)


def _run(args) -> int:
    from ..jobs import Progress
    from ..workbench.run import run_dataset
    from ..workbench.spec import ModelSpec

    methods, metrics = _split(args.methods), _split(args.metrics)
    if not methods:
        raise UsageError("--methods names at least one method")
    method_params, metric_params = _params(args.param, methods, metrics)
    spec = ModelSpec.from_args(args)
    executor = _executor(args)
    last = [0.0]

    def report(done, total, message):
        now = time.perf_counter()
        if now - last[0] > 2 or done >= total:
            last[0] = now
            print(f"  {done}/{total} images", file=sys.stderr, flush=True)

    bundle = spec.load() if executor is None else spec.load(device="cpu")
    for warning in bundle.warnings:
        print(f"saliency-studio: warning: {warning}", file=sys.stderr)
    summary = run_dataset(spec, args.data, methods, args.store, metrics=metrics, method_params=method_params,
                          metric_params=metric_params, resume=args.resume, layer=args.layer, target=args.target,
                          batch_size=args.batch_size, executor=executor, progress=Progress(callback=report),
                          bundle=bundle)
    print(f"{summary.computed} images computed in {summary.seconds:.1f} s ({summary.images_per_second:.1f} images/s); "
          f"{summary.images} images in {summary.store}")
    if summary.skipped:
        print(f"{len(summary.skipped)} skipped:")
        for entry in summary.skipped[:20]:
            print(f"  {entry['file']}: {entry['reason']}")
    return 0


def _export(args) -> int:
    from ..workbench.analysis import read_table, write_csv
    from ..workbench.store import open_store

    with open_store(args.store) as store:
        table = read_table(store)
    write_csv(table, args.csv)
    print(f"{len(table.rows)} images, {len(table.value_columns)} metric columns written to {args.csv}")
    return 0


def _clusters(args) -> int:
    from ..workbench.spray import spray
    from ..workbench.store import open_store

    with open_store(args.store) as store:
        result = spray(store, args.method, max_clusters=args.max_clusters, embedding=args.embedding, seed=args.seed)
        files = {r["id"]: r["file"] for r in store.images()}
    data = result.to_dict()
    data["embedding"] = [{"file": files[i], "x": x, "y": y} for i, (x, y) in result.embedding.items()]
    Path(args.json).write_text(json.dumps(data))
    per_class: dict[int, int] = {}
    for c in result.clusters:
        per_class[c.class_index] = per_class.get(c.class_index, 0) + 1
    print(f"{len(result.clusters)} clusters over {len(per_class)} classes "
          f"({'true' if result.by_true_class else 'predicted'} classes) written to {args.json}")
    return 0


def _report(args) -> int:
    from ..workbench.report import write_report
    from ..workbench.store import open_store

    with open_store(args.store) as store:
        path = write_report(store, args.html, method=args.method)
    print(f"report written to {path}")
    return 0
