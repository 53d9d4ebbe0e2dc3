"""``saliency-studio study prepare | analyze | player``: blind, randomised human studies of
explanations (class discrimination and preference; Selvaraju et al. 2017, Grad-CAM §5.1-5.2;
Chattopadhay et al. 2018, Grad-CAM++ §6) — a package rendered in advance, a self-contained HTML
player, and the statistics of the answers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import Parser, UsageError, load, model_arguments, parse_params


def _names(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def register(sub) -> dict:
    p = sub.add_parser("study", help="human studies: prepare a blind package, play it in a browser, analyse answers")
    steps = p.add_subparsers(dest="study_command", parser_class=Parser)

    q = steps.add_parser("prepare", help="render a study package (trials.csv, PNGs, player.html)")
    model_arguments(q)
    for action in q._actions:
        if action.dest == "model":
            action.required = False
            action.help = "the model (one model; conditions are the methods)"
    q.add_argument("--models", default=None, help="comma-separated models to compare (conditions are the models)")
    q.add_argument("--methods", required=True, help="comma-separated method names")
    q.add_argument("--images", required=True, nargs="+",
                   help="image files and/or folders, or demo-pairs (two-object shapes, generated) / demo-shapes")
    q.add_argument("--protocol", required=True, choices=["discrimination", "preference"])
    q.add_argument("--trials", required=True, type=int,
                   help="trials per condition (discrimination) or per pair of conditions (preference)")
    q.add_argument("--out", required=True, help="the package folder to create (new or empty)")
    q.add_argument("--attention", type=int, default=0, help="attention checks (trials with an obvious answer)")
    q.add_argument("--practice", type=int, default=2, help="practice trials before the study (default 2)")
    q.add_argument("--layer", default=None, help="layer for layer methods (default: each model's last spatial block)")
    q.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=VALUE", help="method parameter")
    q.add_argument("--alpha", type=float, default=0.5, help="overlay opacity (default 0.5)")
    q.add_argument("--cmap", default=None, help="colormap of the maps (default: the app's)")
    q.add_argument("--any-pairs", action="store_true",
                   help="demo-pairs: keep images where a model does not rank both objects' classes in its top 2")

    q = steps.add_parser("analyze", help="accuracy / preference with confidence intervals and tests")
    q.add_argument("package", help="the study package folder")
    q.add_argument("responses", nargs="+", help="responses CSV files (participant,trial,choice,rt_ms)")
    q.add_argument("--json", required=True, help="write {discrimination, preference, participants}")
    q.add_argument("--csv", default=None, help="the same figures as a table")
    q.add_argument("--plot", default=None, help="a PNG figure of the figures")
    q.add_argument("--max-attention-failures", type=int, default=0,
                   help="exclude participants with more failed attention checks than this (default 0)")

    q = steps.add_parser("player", help="rebuild PKG/player.html (after editing PKG/texts/*.txt)")
    q.add_argument("package", help="the study package folder")
    return {"study": _cmd_study}


def _cmd_study(args) -> int:
    if args.study_command is None:
        raise UsageError("choose a study step: prepare, analyze or player")
    return {"prepare": _prepare, "analyze": _analyze, "player": _player}[args.study_command](args)


def _method_params(items: list[str], methods: list[str]) -> dict:
    params: dict = {}
    for name, value in parse_params(items).items():
        method, dot, pname = name.partition(".")
        if not dot or method not in methods:
            raise UsageError(f"--param is METHOD.NAME=VALUE with METHOD one of {', '.join(methods)}, got {name!r}")
        params.setdefault(method, {})[pname] = value
    return params


def _prepare(args) -> int:
    from ..jobs import Progress
    from ..render import COLORMAPS, DEFAULT_CMAP
    from ..study.package import StudyDesign, prepare_package

    if bool(args.model) == bool(args.models):
        raise UsageError("give either --model M (compare methods) or --models M1,M2 (compare models)")
    models = [args.model] if args.model else _names(args.models)
    methods = _names(args.methods)
    if not methods:
        raise UsageError("--methods names at least one method")
    cmap = args.cmap or DEFAULT_CMAP
    if cmap not in COLORMAPS:
        raise UsageError(f"--cmap must be one of {', '.join(COLORMAPS)}, got {cmap!r}")
    design = StudyDesign(protocol=args.protocol, models=models, methods=methods, images=list(args.images),
                         trials=args.trials, seed=args.seed, attention=args.attention, practice=args.practice,
                         layer=args.layer, params=_method_params(args.param, methods), alpha=args.alpha,
                         cmap=cmap, require_top2=not args.any_pairs)
    try:
        design.validate()
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None

    def loader(name):
        return load(argparse.Namespace(**{**vars(args), "model": name}))

    def report(done, total, message):
        print(f"\rrendering maps: {done} / {total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    tty = sys.stderr.isatty()
    manifest = prepare_package(design, args.out, loader=loader, progress=Progress(1, report if tty else None))
    sel = manifest["image_selection"]
    print(f"study package written to {args.out}: {manifest['trials']} trials ({design.protocol}; "
          f"conditions {', '.join(manifest['conditions'])}; {design.attention} attention checks, "
          f"{len(manifest['practice'])} practice trials)")
    print(f"images: {sel['kept']} of {sel['candidates']} candidates kept; participants open "
          f"{Path(args.out) / 'player.html'}")
    return 0


def _analyze(args) -> int:
    from ..study.analysis import analyze, read_responses, write_csv
    from ..study.design import read_trials

    pkg = Path(args.package)
    if not (pkg / "trials.csv").is_file():
        raise UsageError(f"{pkg}: not a study package (no trials.csv)")
    if args.max_attention_failures < 0:
        raise UsageError("--max-attention-failures must be at least 0")
    for path in args.responses:
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such responses file")
    result = analyze(read_trials(pkg / "trials.csv"), read_responses(args.responses), args.max_attention_failures)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    for cond, r in result["discrimination"].items():
        if r["n"]:
            print(f"discrimination {cond}: accuracy {r['accuracy']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] "
                  f"n={r['n']} p={r['p_value']:.3g}")
    for pair, r in result["preference"].items():
        if r["n"]:
            ci = "" if r["ci95"][0] is None else f" [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"
            print(f"preference {pair}: mean {r['mean']:+.2f}{ci} n={r['n']} p={r['p_value']:.3g}")
    excluded = [pid for pid, r in result["participants"].items() if r["excluded"]]
    print(f"{len(result['participants'])} participants"
          + (f"; excluded for failed attention checks: {', '.join(excluded)}" if excluded else ""))
    print(f"results written to {args.json}")
    if args.csv:
        write_csv(result, args.csv)
        print(f"table written to {args.csv}")
    if args.plot:
        from ..study.plot import plot_results
        plot_results(result, args.plot)
        print(f"figure written to {args.plot}")
    return 0


def _player(args) -> int:
    from ..study.player import write_player

    pkg = Path(args.package)
    if not (pkg / "study.json").is_file() or not (pkg / "trials.csv").is_file():
        raise UsageError(f"{pkg}: not a study package (needs study.json and trials.csv)")
    print(f"player written to {write_player(pkg)}")
    return 0
