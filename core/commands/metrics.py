"""``saliency-studio metrics`` (the metric registry in words) and ``saliency-studio sanity``
(per-method model-randomisation verdicts, cached per model)."""

from __future__ import annotations

import json
from pathlib import Path

from .common import UsageError, load, model_arguments


def register(sub) -> dict:
    p = sub.add_parser("metrics", help="list the metrics: what each measures, which way is better, its cost")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("sanity", help="does each method depend on the model's weights? (Adebayo et al. 2018)")
    model_arguments(p)
    p.add_argument("--methods", required=True, help="comma-separated method names")
    p.add_argument("--images", nargs="+", default=None,
                   help="image files and/or folders (default: the bundled demo images for the demo models, "
                        "the bundled photos otherwise)")
    p.add_argument("--threshold", type=float, default=0.8, help="similarity at or above which a method fails")
    p.add_argument("--no-cache", action="store_true", help="recompute even when a verdict is cached")
    p.add_argument("--json", default=None, help="write {methods: {NAME: {passes, similarity, rule}}}")
    return {"metrics": _cmd_metrics, "sanity": _cmd_sanity}


def _cmd_metrics(args) -> int:
    from ..metrics.registry import all_metrics

    specs = all_metrics()
    if args.json:
        print(json.dumps([{"name": s.name, "label": s.label, "family": s.family, "sentence": s.sentence,
                           "citation": s.citation, "needs": sorted(s.needs), "cost_passes_224": s.cost((224, 224), {}),
                           "outputs": [{"name": o.name, "label": o.label, "direction": o.direction} for o in s.outputs],
                           "params": [{**vars(p), "choices": list(p.choices)} for p in s.params]}
                          for s in specs.values()], indent=2))
        return 0
    for spec in specs.values():
        needs = f"; needs {', '.join(sorted(spec.needs))}" if spec.needs else ""
        print(f"{spec.name}  [{spec.family}{needs}]  {spec.label}")
        print(f"    {spec.sentence}")
        for out in spec.outputs:
            print(f"    → {out.name}: {out.describe()}")
        cost = spec.cost((224, 224), {})
        extra = " + the method's own passes for each recomputed map" if spec.recomputes else ""
        print(f"    cost: {cost} forward passes per 224×224 image{extra}; {spec.citation}")
        for param in spec.params:
            print(f"    --param {spec.name}.{param.describe()}")
    return 0


def _cmd_sanity(args) -> int:
    from ..evaluate import collect_images
    from ..methods import get_method
    from ..metrics.sanity_verdict import method_sanity

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise UsageError("--methods names at least one method")
    for method in methods:
        get_method(method)
    images = collect_images(args.images) if args.images else None
    bundle = load(args)
    verdicts = method_sanity(bundle, methods, images, seed=args.seed, threshold=args.threshold,
                             use_cache=not args.no_cache)
    for method, v in verdicts.items():
        mark = "passes" if v["passes"] else "FAILS"
        print(f"{method}: {mark}: {v['verdict']} (top-block similarity {v['top_similarity']:.2f}, "
              f"{v['images']} images{', cached' if v['cached'] else ''})")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": bundle.name, "methods": verdicts}, indent=1))
        print(f"verdicts written to {args.json}")
    return 0
