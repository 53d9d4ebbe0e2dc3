"""What every command shares: the one-line-error parser, model options and loading, and
``NAME=VALUE`` parameters. A command module exposes ``register(sub) -> {name: handler}``."""

from __future__ import annotations

import argparse
import sys

from ..models import load_model


class UsageError(Exception):
    """A bad command line: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints a usage block by default)
        raise UsageError(message)


def model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="demo, demo-biased, a torchvision name, timm:NAME, or a TorchScript / pickled model file")
    p.add_argument("--weights", default=None,
                   help="zoo/timm weights: DEFAULT (default), an enum name, none, or a state-dict file (.pt/.pth or .safetensors)")
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


def load(args):
    """The bundle the model options describe; its load-time warnings go to stderr, one line each."""
    from ..models import spec_from_options

    weights = args.weights if args.weights is not None else "DEFAULT"
    inputs = spec_from_options(args.input_size, args.resize, args.channels, args.mean, args.std, args.channel_order)
    bundle = load_model(args.model, weights, trust=args.trust, labels=args.labels, device=args.device,
                        seed=args.seed, num_classes=args.num_classes, inputs=inputs)
    for warning in bundle.warnings:
        print(f"saliency-studio: warning: {warning}", file=sys.stderr)
    return bundle


def parse_params(items: list[str]) -> dict[str, str]:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--param expects NAME=VALUE, got {item!r}")
        params[name.strip()] = value.strip()
    return params


def method_arguments(p, methods: list[str], default: str | None = "gradcam") -> None:
    """``--method`` (one of ``methods``; required when ``default`` is None), ``--layer``, ``--param``."""
    if default is None:
        p.add_argument("--method", required=True, choices=methods, metavar="METHOD", help="one of: " + ", ".join(methods))
    else:
        p.add_argument("--method", default=default, choices=methods, metavar="METHOD",
                       help=f"explanation method (default {default}): " + ", ".join(methods))
    p.add_argument("--layer", default=None, help="target layer for layer methods (default: last spatial block)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="method parameter")


def class_index(text: str, bundle, classes: int | None = None, flag: str = "--target") -> int:
    """A class given as an index or a label (case-insensitive), checked against ``classes``."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        index = int(text)
    else:
        lowered = [lab.lower() for lab in bundle.labels or []]
        if text.lower() not in lowered:
            raise UsageError(f"{flag} {text!r} is neither a class index nor a label of this model")
        index = lowered.index(text.lower())
    if classes is not None and not 0 <= index < classes:
        raise UsageError(f"{flag} {index} is not a class of this model (0 to {classes - 1})")
    return index
