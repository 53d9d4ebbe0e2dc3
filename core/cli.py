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

from .images import ImageLoadError, load_image
from .messages import one_line
from .evaluate import METRICS
from .methods import REGISTRY, get_method
from .models import DEMO_MODELS, ModelLoadError, ModelOutputError, load_model, zoo_names
from .capture import LayerError
from .render import COLORMAPS, overlay, save_png
from .targets import CLASS_KINDS, UNIT_REDUCTIONS, ClassTarget, parse_unit

USER_ERRORS = (ImageLoadError, ModelLoadError, ModelOutputError, LayerError, ValueError, OSError)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints a usage block by default)
        raise UsageError(message)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="saliency-studio", description="Explain image-classification CNNs.",
                     epilog="--debug (anywhere): print the traceback of an error, for bug reports")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("methods", help="list attribution methods and their parameters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("models", help="list loadable models")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("explain", help="explain one image and write an overlay / map / JSON")
    _model_arguments(p)
    p.add_argument("--image", required=True, help="image file")
    p.add_argument("--method", required=True, choices=list(REGISTRY), metavar="METHOD",
                   help="one of: " + ", ".join(REGISTRY))
    p.add_argument("--layer", default=None, help="target layer for layer methods (default: last spatial block)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--target", default=None, help="class index or label (default: the predicted class)")
    group.add_argument("--unit", default=None, help="explain a unit: LAYER:CHANNEL or LAYER:CHANNEL@Y,X")
    p.add_argument("--target-kind", default="logit", choices=CLASS_KINDS, help="class score explained")
    p.add_argument("--unit-reduce", default="mean", choices=UNIT_REDUCTIONS[:-1], help="unit over space")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="method parameter")
    p.add_argument("--out", default=None, help="overlay PNG to write")
    p.add_argument("--cmap", default="jet", choices=list(COLORMAPS))
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity")
    p.add_argument("--json", default=None, help="write predictions, target, parameters, timings")
    p.add_argument("--save-map", default=None, help="write the raw H×W float32 map (.npy)")
    p.add_argument("--save-input", default=None, help="write the exact 1×C×H×W input tensor (.npy)")

    p = sub.add_parser("evaluate", help="score methods on images with faithfulness / localisation metrics")
    _model_arguments(p)
    p.add_argument("--images", required=True, nargs="+", help="image files and/or folders")
    p.add_argument("--annotations", default=None, help="ground truth JSON (the demo ground_truth.json format)")
    p.add_argument("--methods", required=True, help="comma-separated method names")
    p.add_argument("--metrics", default="deletion,insertion", help="comma-separated: " + ", ".join(METRICS))
    p.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE",
                   help="parameter of one method")
    p.add_argument("--threshold", type=float, default=0.15, help="localisation threshold (fraction of max)")
    p.add_argument("--csv", default=None, help="table of values per image and method")
    p.add_argument("--json", default=None, help="rows, per-method summary, win %%, curves")

    p = sub.add_parser("scan", help="failure-mode scan of a labelled set: accuracy, confusion, worst mistakes")
    _model_arguments(p)
    p.add_argument("--data", required=True, help="folder with one sub-folder per class, or a CSV of file,label")
    p.add_argument("--json", default=None, help="accuracy, confusion matrix, misclassified images")
    p.add_argument("--csv", default=None, help="misclassified images, most confident first")
    return parser


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="demo, demo-biased, a torchvision name, or a TorchScript / pickled model file")
    p.add_argument("--weights", default=None,
                   help="zoo weights: DEFAULT (default), an enum name, none, or a state-dict file")
    p.add_argument("--num-classes", type=int, default=None, help="classes of a state-dict checkpoint")
    p.add_argument("--labels", default=None, help="class names: .txt (one per line) or .json")
    p.add_argument("--trust", action="store_true", help="allow unpickling a model file (runs its code)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or mps")
    p.add_argument("--seed", type=int, default=0, help="seed for random init and stochastic methods")
    g = p.add_argument_group("model input (override the model card <model file stem>.json next to the file)")
    g.add_argument("--input-size", default=None, metavar="N|H,W",
                   help="input size; the image is resized straight to it unless --resize is given")
    g.add_argument("--resize", default=None, metavar="N", help="resize the shorter side to N, then centre-crop")
    g.add_argument("--channels", default=None, metavar="1|3", help="input channels (1: BT.601 grey)")
    g.add_argument("--mean", default=None, metavar="M[,M,M]", help="normalisation mean in [0, 1] units")
    g.add_argument("--std", default=None, metavar="S[,S,S]", help="normalisation std in [0, 1] units")
    g.add_argument("--channel-order", default=None, metavar="rgb|bgr", help="channel order of the input tensor")


def _load(args):
    """The bundle the model options describe; its load-time warnings go to stderr, one line each."""
    from .models import spec_from_options

    weights = args.weights if args.weights is not None else "DEFAULT"
    inputs = spec_from_options(args.input_size, args.resize, args.channels, args.mean, args.std, args.channel_order)
    bundle = load_model(args.model, weights, trust=args.trust, labels=args.labels, device=args.device,
                        seed=args.seed, num_classes=args.num_classes, inputs=inputs)
    for warning in bundle.warnings:
        print(f"saliency-studio: warning: {warning}", file=sys.stderr)
    return bundle


def _cmd_methods(args) -> int:
    if args.json:
        print(json.dumps([{"name": s.name, "label": s.label, "family": s.family, "citation": s.citation,
                           "needs_layer": s.needs_layer,
                           "params": [{**vars(p), "choices": list(p.choices)} for p in s.params]}
                          for s in REGISTRY.values()], indent=2))
        return 0
    for spec in REGISTRY.values():
        print(f"{spec.name}  [{spec.family}{', needs a layer' if spec.needs_layer else ''}]  {spec.label}")
        print(f"    {spec.summary}")
        print(f"    {spec.citation}")
        for param in spec.params:
            print(f"    --param {param.describe()}")
    return 0


def _cmd_models(args) -> int:
    names = list(zoo_names())
    if args.json:
        print(json.dumps({"demo": list(DEMO_MODELS), "zoo": names, "files": ["TorchScript (.pt/.ts)", "pickled nn.Module (--trust)"]}))
        return 0
    print("bundled demo models (offline, shapes in clutter): " + ", ".join(DEMO_MODELS))
    print("torchvision models (--model NAME [--weights DEFAULT|none|ENUM|state_dict.pth]):")
    for i in range(0, len(names), 6):
        print("  " + "  ".join(names[i:i + 6]))
    print("model files: --model FILE (TorchScript; a pickled nn.Module needs --trust)")
    return 0


def _parse_params(items: list[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        params[name.strip()] = value.strip()
    return params


def _resolve_target(args, bundle, prediction: int):
    """The unit, the named class, or the predicted class, scored by ``--target-kind``."""
    if args.unit:
        if args.target_kind != "logit":
            raise UsageError("--target-kind scores a class; a --unit target is its activation")
        return parse_unit(args.unit, args.unit_reduce)
    if args.target is None:
        return ClassTarget(prediction, args.target_kind)
    if args.target.lstrip("-").isdigit():
        return ClassTarget(int(args.target), args.target_kind)
    labels = bundle.labels or []
    matches = [i for i, lab in enumerate(labels) if lab.lower() == args.target.lower()]
    if not matches:
        raise UsageError(f"--target {args.target!r} is neither a class index nor a label of this model")
    return ClassTarget(matches[0], args.target_kind)


def _cmd_explain(args) -> int:
    from .explain import Explainer

    spec = REGISTRY[args.method]
    params = spec.resolve(_parse_params(args.param))
    started = time.perf_counter()
    image = load_image(args.image)
    bundle = _load(args)
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
        if spec.family == "synthesis":  # activation maximisation: the synthesised image itself
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
    for name, value in _parse_params(args.param).items():
        method, dot, pname = name.partition(".")
        if not dot or method not in methods:
            raise UsageError(f"--param for evaluate is METHOD.NAME=VALUE with METHOD in --methods, not {name!r}")
        params.setdefault(method, {})[pname] = value
    for method in methods:
        get_method(method).resolve(params.get(method))
    images = collect_images(args.images)
    annotations = read_annotations(args.annotations) if args.annotations else None
    bundle = _load(args)
    table = evaluate(bundle, images, methods, metrics, annotations, params, args.threshold, seed=args.seed)
    summary = table.summary()
    columns = list(dict.fromkeys(k for row in summary.values() for k in row))
    print("method".ljust(24) + "".join(c[:18].rjust(19) for c in columns))
    for method, values in summary.items():
        print(method.ljust(24) + "".join(f"{values.get(c, float('nan')):19.4f}" for c in columns))
    for method, share in table.win_percent().items():
        print(f"win % (lowest average drop): {method} {share:.1f}")
    if args.csv:
        table.write_csv(args.csv)
        print(f"table written to {args.csv}")
    if args.json:
        table.write_json(args.json)
        print(f"results written to {args.json}")
    return 0


def _cmd_scan(args) -> int:
    from .diagnose.scan import read_labelled, scan

    bundle = _load(args)
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
        args = _build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError("choose a command: methods, models, explain, evaluate, scan (or run the app: "
                             "saliency-studio gui)")
        return {"methods": _cmd_methods, "models": _cmd_models, "explain": _cmd_explain,
                "evaluate": _cmd_evaluate, "scan": _cmd_scan}[args.command](args)
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
