"""The bundled demo models: a compact CNN trained on the shapes-in-clutter dataset.

Architecture: four conv stages (BatchNorm + ReLU), global average pooling, one linear layer,
so CAM (Zhou et al. 2016) applies exactly. About 0.85M parameters; 128×128 input; the last
stage (``features``, the default layer) is 16×16.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from .bundle import ModelBundle
from .errors import ModelLoadError
from .preprocess import Preprocess

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "models"
DEMO_MODELS = {"demo": "demo_clean", "demo-biased": "demo_biased"}
INPUT_SIZE = 128
DEMO_MEAN = (0.5, 0.5, 0.5)
DEMO_STD = (0.25, 0.25, 0.25)


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ShapesNet(nn.Module):
    """Compact CNN: stem (stride 4) → 3 stages → GAP → linear. CAM-ready."""

    def __init__(self, num_classes: int = 6, widths: tuple[int, ...] = (32, 64, 128, 192)):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.features = nn.Sequential(
            _conv(3, w0, 5, stride=2), nn.MaxPool2d(2),           # 128 → 32
            _conv(w0, w1), _conv(w1, w1),                          # 32×32
            nn.MaxPool2d(2), _conv(w1, w2), _conv(w2, w2),         # 16×16
            _conv(w2, w3), _conv(w3, w3),                          # 16×16: the CAM layer
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w3, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def demo_card(name: str = "demo") -> dict:
    """The model card (JSON) of a bundled demo model."""
    if name not in DEMO_MODELS:
        raise ModelLoadError(f"unknown demo model {name!r}; choose one of {', '.join(DEMO_MODELS)}")
    path = RESOURCES / f"{DEMO_MODELS[name]}.json"
    if not path.is_file():
        raise ModelLoadError(f"the demo model card {path} is missing; rebuild it with "
                             "'python -m core.datasets.train' (see README)")
    return json.loads(path.read_text())


def load_demo(name: str = "demo", verify: bool = True) -> ModelBundle:
    """A bundled demo model (``demo`` clean, ``demo-biased``) as a float32 ``ModelBundle``."""
    card = demo_card(name)
    weights = RESOURCES / card["weights"]
    if not weights.is_file():
        raise ModelLoadError(f"the demo weights {weights} are missing")
    if verify and hashlib.sha256(weights.read_bytes()).hexdigest() != card["sha256"]:
        raise ModelLoadError(f"{weights} does not match the sha256 in its model card")
    net = ShapesNet(len(card["classes"]))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    size = int(card["input_size"])
    pre = Preprocess(crop=(size, size), resize=size, mean=tuple(card["mean"]), std=tuple(card["std"]))
    return ModelBundle(net=net, preprocess=pre, labels=list(card["classes"]), name=name, source=str(weights))
