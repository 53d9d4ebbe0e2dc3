"""Command line: ``saliency-studio methods | models | explain | evaluate | scan`` over the same
engine and registry (``gui`` and ``--self-test`` are handled by ``desktop.launcher``, which owns
the console script, so that ``core`` never imports the desktop package).

Bad arguments and unreadable inputs print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from .commands import register_all
from .commands.common import Parser, UsageError, class_index, load, method_arguments, model_arguments, parse_params
from .images import ImageLoadError, load_image
from .messages import one_line
from .metrics.registry import all_metrics, output_spec
from .methods import REGISTRY, get_method
from .models import DEMO_MODELS, ModelLoadError, ModelOutputError, zoo_names
from .capture import LayerError
from .render import COLORMAPS, DEFAULT_CMAP, overlay, save_png
from .targets import CLASS_KINDS, UNIT_REDUCTIONS, ClassTarget, parse_unit

USER_ERRORS = (ImageLoadError, ModelLoadError, ModelOutputError, LayerError, ValueError, OSError)


def _build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """The parser and the handler of every command."""
    parser = Parser(prog="saliency-studio", description="Explain image-classification CNNs.",
                     epilog="--debug (anywhere): print the traceback of an error, for bug reports")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    p = sub.add_parser("methods", help="list attribution methods and their parameters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("models", help="list loadable models")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("explain", help="explain one image and write an overlay / map / JSON")
    model_arguments(p)
    p.add_argument("--image", required=True, help="image file")
    method_arguments(p, list(REGISTRY), default=None)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--target", default=None, help="class index or label (default: the predicted class)")
    group.add_argument("--unit", default=None, help="explain a unit: LAYER:CHANNEL or LAYER:CHANNEL@Y,X")
    p.add_argument("--target-kind", default=None, choices=CLASS_KINDS,
                   help="class score explained (default: logit; sigmoid for a multi-label model, and sigmoid "
                        "also ranks the predictions by per-class sigmoid probability)")
    p.add_argument("--unit-reduce", default="mean", choices=UNIT_REDUCTIONS[:-1], help="unit over space")
    p.add_argument("--out", default=None, help="overlay PNG to write")
    p.add_argument("--cmap", default=DEFAULT_CMAP, choices=list(COLORMAPS))
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity")
    p.add_argument("--json", default=None, help="write predictions, target, parameters, timings")
    p.add_argument("--save-map", default=None, help="write the raw H×W float32 map (.npy)")
    p.add_argument("--save-input", default=None, help="write the exact 1×C×H×W input tensor (.npy)")

    p = sub.add_parser("evaluate", help="score methods on images with faithfulness / localisation metrics")
    model_arguments(p)
    p.add_argument("--images", required=True, nargs="+", help="image files and/or folders")
    p.add_argument("--annotations", default=None, help="ground truth JSON (the demo ground_truth.json format)")
    p.add_argument("--methods", required=True, help="comma-separated method names")
    p.add_argument("--metrics", default="deletion,insertion",
                   help="comma-separated: " + ", ".join(all_metrics()) + " ('saliency-studio metrics' explains them)")
    p.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE",
                   help="parameter of one method, or of one metric (METRIC.NAME=VALUE)")
    p.add_argument("--threshold", type=float, default=None,
                   help="localisation threshold, fraction of the map's maximum (default 0.15, Grad-CAM §4.1)")
    p.add_argument("--csv", default=None, help="table of values per image and method")
    p.add_argument("--json", default=None, help="rows, per-method summary, win %%, curves")

    p = sub.add_parser("scan", help="failure-mode scan of a labelled set: accuracy, confusion, worst mistakes")
    model_arguments(p)
    p.add_argument("--data", required=True, help="folder with one sub-folder per class, or a CSV of file,label")
    p.add_argument("--json", default=None, help="accuracy, confusion matrix, misclassified images")
    p.add_argument("--csv", default=None, help="misclassified images, most confident first")
    handlers = {"methods": _cmd_methods, "models": _cmd_models, "explain": _cmd_explain,
                "evaluate": _cmd_evaluate, "scan": _cmd_scan}
    handlers.update(register_all(sub))
    return parser, handlers


def _cmd_methods(args) -> int:
    if args.json:  # passes: network passes at the defaults for a 224×224 input
        print(json.dumps([s.to_dict() for s in REGISTRY.values()], indent=2))
        return 0
    for spec in REGISTRY.values():
        n = spec.passes()
        facts = [spec.family, f"{spec.cost}, ~{n} pass{'es' * (n != 1)} at 224×224"]
        facts += ["needs a layer"] * spec.needs_layer + ["makes an image"] * (spec.output == "image")
        print(f"{spec.name}  [{', '.join(facts)}]  {spec.label}")
        print(f"    {spec.description}")
        print(f"    formula: {spec.summary}")
        print(f"    {spec.citation}")
        for param in spec.params:
            when = param.relevance_text()
            print(f"    --param {param.describe()}" + (" [advanced]" if param.advanced else "")
                  + (f" ({when})" if when else ""))
    return 0


def _cmd_models(args) -> int:
    from .models.timm_models import available as timm_available, families as timm_families

    names = list(zoo_names())
    timm = timm_families() if timm_available() else {}
    if args.json:
        print(json.dumps({"demo": list(DEMO_MODELS), "zoo": names, "timm": timm,
                          "files": ["TorchScript (.pt/.ts)", "state dict (.pth/.safetensors) with a model card",
                                    "pickled nn.Module (--trust)"]}))
        return 0
    print("bundled demo models (offline, shapes in clutter): " + ", ".join(DEMO_MODELS))
    print("torchvision models (--model NAME [--weights DEFAULT|none|ENUM|state_dict.pth|.safetensors]):")
    for i in range(0, len(names), 6):
        print("  " + "  ".join(names[i:i + 6]))
    if timm:
        print(f"timm models, {sum(timm.values())} in {len(timm)} families (--model timm:NAME "
              "[--weights DEFAULT|none|state_dict.safetensors|.pth]; the GUI's model list searches them):")
        entries = [f"{fam} ({n})" for fam, n in timm.items()]
        for i in range(0, len(entries), 6):
            print("  " + "  ".join(entries[i:i + 6]))
    else:
        print("timm models: not installed (pip install 'saliency-studio[timm]')")
    print("model files: --model FILE (TorchScript; a state dict whose model card names its architecture; "
          "a pickled nn.Module needs --trust)")
    return 0


def _resolve_target(args, bundle, prediction: int):
    """The unit, the named class, or the predicted class, scored by ``--target-kind``."""
    if args.unit:
        if args.target_kind not in (None, "logit"):
            raise UsageError("--target-kind scores a class; a --unit target is its activation")
        return parse_unit(args.unit, args.unit_reduce)
    kind = args.target_kind or bundle.class_kind
    if args.target is None:
        return ClassTarget(prediction, kind)
    return ClassTarget(class_index(args.target, bundle), kind)


def _cmd_explain(args) -> int:
    from .explain import Explainer

    spec = REGISTRY[args.method]
    params = spec.resolve(parse_params(args.param))
    started = time.perf_counter()
    image = load_image(args.image)
    bundle = load(args)
    if args.target_kind == "sigmoid":  # a multi-label head: predictions by per-class sigmoid probability
        bundle.multi_label = True
    explainer = Explainer(bundle, image)
    target = _resolve_target(args, bundle, explainer.prediction[0][0])
    result = explainer.explain(args.method, target=target, layer=args.layer, params=params, seed=args.seed)
    result.timings["total"] = time.perf_counter() - started

    top = result.prediction[0]
    print(f"{bundle.name}: predicted {top[1]} ({top[2]:.1%}); {spec.label} for "
          f"{result.target.describe(result.target_label)}" + (f" at layer {result.layer}" if result.layer else ""))
    if "final_score" in result.info:
        print(f"target score raised from {result.info['start_score']:.3g} to {result.info['final_score']:.3g}")
    if "relative_completeness_error" in result.info:
        print(f"completeness error: {result.info['relative_completeness_error']:.2%} of f(x) - f(x')")
    if "note" in result.info:
        print(f"note: {result.info['note']}")
    if "warning" in result.info:
        print(f"warning: {result.info['warning']}", file=sys.stderr)
    if args.out:
        if spec.output == "image":  # activation maximisation: the synthesised image itself
            print(f"synthesised image written to {save_png(args.out, result.extras['image'])}")
        else:
            print(f"overlay written to {save_png(args.out, overlay(result.image, result.map, args.alpha, args.cmap))}")
    if args.save_map:
        np.save(args.save_map, result.map)
        print(f"map written to {args.save_map}")
    if args.save_input:
        np.save(args.save_input, explainer.x.detach().cpu().numpy().astype(np.float32))
        print(f"input tensor written to {args.save_input}")
    if args.json:
        data = result.to_dict()
        data["model"] = {"name": bundle.name, "source": bundle.source, "device": str(bundle.device)}
        data["image"] = str(args.image)
        Path(args.json).write_text(json.dumps(data, indent=2, default=str))
        print(f"result written to {args.json}")
    return 0


def _cmd_evaluate(args) -> int:
    from .evaluate import collect_images, evaluate, read_annotations

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    params: dict[str, dict] = {}
    metric_params: dict[str, dict] = {}
    for name, value in parse_params(args.param).items():
        owner, dot, pname = name.partition(".")
        if not dot or (owner not in methods and owner not in metrics):
            raise UsageError(f"--param for evaluate is METHOD.NAME=VALUE or METRIC.NAME=VALUE with METHOD in "
                             f"--methods or METRIC in --metrics, not {name!r}")
        (params if owner in methods else metric_params).setdefault(owner, {})[pname] = value
    for method in methods:
        get_method(method).resolve(params.get(method))
    images = collect_images(args.images)
    annotations = read_annotations(args.annotations) if args.annotations else None
    bundle = load(args)
    table = evaluate(bundle, images, methods, metrics, annotations, params, args.threshold, seed=args.seed,
                     metric_params=metric_params)
    summary = table.summary()
    columns = list(dict.fromkeys(k for row in summary.values() for k in row))
    arrows = {c: (output_spec(c).arrow if output_spec(c) else "") for c in columns}
    print("method".ljust(24) + "".join(f"{c[:16]} {arrows[c]}".rjust(19) for c in columns))
    for method, values in summary.items():
        print(method.ljust(24) + "".join(f"{values.get(c, float('nan')):19.4f}" for c in columns))
    for method, share in table.win_percent().items():
        print(f"win % (lowest average drop): {method} {share:.1f}")
    _print_disagreement(table)
    if args.csv:
        table.write_csv(args.csv)
        print(f"table written to {args.csv}")
    if args.json:
        table.write_json(args.json)
        print(f"results written to {args.json}")
    return 0


def _print_disagreement(table) -> None:
    """Each method's rank under each metric (1 = best) and how far the metrics agree."""
    ranks, agreement = table.ranks(), table.agreement()
    if len(ranks) < 2 or len(table.summary()) < 2:
        return
    methods = list(table.summary())
    print("rank by metric (1 = best):")
    print("metric".ljust(24) + "".join(m[:14].rjust(15) for m in methods))
    for metric, row in ranks.items():
        print(metric.ljust(24) + "".join(f"{row.get(m, float('nan')):15.1f}" for m in methods))
    pairs = [(a, b, agreement[a][b]) for i, a in enumerate(ranks) for b in list(ranks)[i + 1:]]
    shown = [f"{a}~{b} {v:+.2f}" for a, b, v in pairs if v == v]
    if shown:
        print("rank agreement between metrics (Spearman; negative = they disagree): " + ", ".join(shown))


def _cmd_scan(args) -> int:
    from .diagnose.scan import read_labelled, scan

    bundle = load(args)
    result = scan(bundle, read_labelled(args.data, bundle.labels or []))
    print(f"{len(result.files)} images, accuracy {result.accuracy:.1%}")
    used = sorted(set(result.labels.tolist()) | set(result.predictions.tolist()))
    names = [result.classes[i][:10] for i in used]
    print("confusion (rows: true, columns: predicted)")
    print(" " * 12 + "".join(n.rjust(11) for n in names))
    for i in used:
        print(result.classes[i][:10].ljust(12) + "".join(str(result.confusion[i, j]).rjust(11) for j in used))
    for row in result.misclassified()[:10]:
        print(f"  {row['confidence']:6.1%}  {row['file']}: {row['label']} → {row['predicted']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1))
        print(f"results written to {args.json}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["file", "label", "predicted", "confidence", "label_index",
                                                   "predicted_index"])
            writer.writeheader()
            writer.writerows(result.misclassified())
        print(f"misclassified images written to {args.csv}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every error is one line on stderr and exit status 2; ``--debug``
    (anywhere on the line) adds the traceback for bug reports."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        parser, handlers = _build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError(f"choose a command: {', '.join(handlers)} (or run the app: saliency-studio gui)")
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head`
        return 0
    except Exception as exc:  # noqa: BLE001 - the CLI's contract: one line, exit 2, never a traceback
        if debug:
            traceback.print_exc()
        message = one_line(exc)
        if not isinstance(exc, (UsageError, *USER_ERRORS)):
            message = f"{type(exc).__name__}: {message} (an unexpected error; --debug shows the traceback)"
        print(f"saliency-studio: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
