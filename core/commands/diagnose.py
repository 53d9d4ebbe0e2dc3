"""``attack`` and ``bias``: the desktop's diagnosis views on the command line.

attack: FGSM (Goodfellow et al. 2015) or PGD (Madry et al. 2018) on one image, the prediction
before and after, and how far the explanation moved (``core.diagnose.adversarial``).
bias: where the explanation energy of an annotated folder lies, on the objects or in a region
such as the demo's tag corner (``core.diagnose.bias``, cf. Selvaraju et al. 2017, §6).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..methods import REGISTRY
from .common import UsageError, class_index, load, method_arguments, model_arguments, parse_params


def register(sub) -> dict:
    methods = [name for name, spec in REGISTRY.items() if spec.output != "image"]
    p = sub.add_parser("attack", help="adversarial attack on one image: predictions and explanation shift")
    model_arguments(p)
    p.add_argument("--image", required=True, help="image file")
    method_arguments(p, methods)
    p.add_argument("--attack", default="pgd", choices=("fgsm", "pgd"), help="FGSM (one step) or PGD")
    p.add_argument("--norm", default="linf", choices=("linf", "l2"), help="perturbation norm")
    p.add_argument("--epsilon", type=float, default=4.0, metavar="E",
                   help="budget in /255: per-pixel bound (linf) or RMS per pixel value (l2); default 4")
    p.add_argument("--steps", type=int, default=10, help="PGD steps (FGSM takes one)")
    p.add_argument("--target", default=None, metavar="C",
                   help="class index or label to attack towards (default: untargeted)")
    p.add_argument("--json", default=None, help="write predictions, success, ‖δ‖ and the explanation shift")
    p.add_argument("--out", default=None, help="PNG: clean overlay, attacked overlay, amplified perturbation")

    p = sub.add_parser("bias", help="bias report of an annotated folder: explanation energy on objects / a region")
    model_arguments(p)
    p.add_argument("--data", required=True, help="folder with ground_truth.json (the demo format), or that JSON")
    method_arguments(p, methods)
    p.add_argument("--region", default=None, metavar="x0,y0,x1,y1|tag",
                   help="region in map pixels (x1/y1 exclusive), or tag: the demo tag corner")
    p.add_argument("--json", default=None, help="write per-class shares, enrichment, flag and skipped files")
    return {"attack": _cmd_attack, "bias": _cmd_bias}


def _cmd_attack(args) -> int:
    import torch

    from ..diagnose.adversarial import attack_and_explain, attack_grid, attack_summary, epsilon_from_255
    from ..explain import Explainer
    from ..images import load_image
    from ..render import save_png

    params = REGISTRY[args.method].resolve(parse_params(args.param))
    if not args.epsilon >= 0:
        raise UsageError(f"--epsilon must be ≥ 0 (in /255 units), got {args.epsilon}")
    if args.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {args.steps}")
    image = load_image(args.image)
    bundle = load(args)
    explainer = Explainer(bundle, image)
    goal = None
    if args.target is not None:
        with torch.inference_mode():
            classes = int(bundle(explainer.x).shape[1])
        goal = class_index(args.target, bundle, classes)
    eps = epsilon_from_255(args.epsilon, args.norm, explainer.x)
    shown = attack_and_explain(bundle, explainer, eps, args.attack, args.norm, args.steps, goal, args.method,
                               layer=args.layer, params=params, seed=args.seed)
    summary = attack_summary(bundle, shown)
    clean, attacked, shift = summary["clean"], summary["attacked"], summary["shift"]
    print(f"{bundle.name}: {args.attack.upper()} {args.norm} ε = {args.epsilon:g}/255"
          + (f" towards {bundle.label(goal)}" if goal is not None else "")
          + f": {'success' if summary['success'] else 'no flip'}: {clean['label']} {clean['probability']:.1%} → "
          f"{attacked['label']} {attacked['probability']:.1%}; "
          + (f"‖δ‖∞ = {summary['norm_255']:.2f}/255" if args.norm == "linf" else
             f"‖δ‖₂ = {summary['norm_255']:.2f}/255 (RMS {summary['rms_255']:.2f}/255 per value)"))
    print(f"{REGISTRY[args.method].label} map shift: Spearman {shift['spearman']:.2f}, "
          f"top-10% overlap {shift['topk_intersection']:.2f}, SSIM {shift['ssim']:.2f}")
    if args.out:
        print(f"grid written to {save_png(args.out, attack_grid(bundle, shown))}")
    if args.json:
        steps = 1 if args.attack == "fgsm" else args.steps
        data = {"model": {"name": bundle.name, "source": bundle.source, "device": str(bundle.device)},
                "image": str(args.image), "attack": args.attack, "norm": args.norm, "epsilon_255": args.epsilon,
                "epsilon": eps, "steps": steps,
                "target": None if goal is None else {"index": goal, "label": bundle.label(goal)}, **summary}
        Path(args.json).write_text(json.dumps(data, indent=2, default=str))
        print(f"result written to {args.json}")
    return 0


def _cmd_bias(args) -> int:
    from ..diagnose.bias import bias_over_folder, parse_region

    params = REGISTRY[args.method].resolve(parse_params(args.param))
    try:
        region = parse_region(args.region)
    except ValueError as exc:
        raise UsageError(f"--region: {exc}") from None
    if not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such folder or file")
    bundle = load(args)
    report = bias_over_folder(bundle, args.data, args.method, args.layer, params, region, seed=args.seed)
    print(f"{bundle.name}: {REGISTRY[args.method].label} over {report.images} images"
          + (f" ({len(report.skipped)} skipped)" if report.skipped else "")
          + (f", region {','.join(map(str, report.region))}" if report.region else ""))
    print("class".ljust(14) + "images".rjust(8) + "object share".rjust(14) + "region share".rjust(14))
    for row in report.per_class.values():
        region_share = f"{row['region_share']:.1%}" if row["region_share"] is not None else "-"
        print(str(row["label"])[:13].ljust(14) + str(row["images"]).rjust(8) + f"{row['object_share']:.1%}".rjust(14)
              + region_share.rjust(14))
    if report.region_enrichment is not None:
        print(f"region enrichment: {report.region_enrichment:.2f}× its area share")
    print(f"{'FLAGGED' if report.flagged else 'not flagged'}: {report.reason}")
    for item in report.skipped:
        print(f"skipped {item['file']}: {item['reason']}")
    if args.json:
        data = {"model": {"name": bundle.name, "source": bundle.source, "device": str(bundle.device)},
                "data": str(args.data), **report.to_dict()}
        Path(args.json).write_text(json.dumps(data, indent=2, default=str))
        print(f"report written to {args.json}")
    return 0
