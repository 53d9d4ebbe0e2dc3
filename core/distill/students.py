"""Student networks for distillation: a ShapesNet of chosen width and depth, or any
torchvision classifier by name (random init).

An architecture is a plain dict, stored in the student's model card so that
``load_model("student.pt")`` can rebuild it before reading the weights (``weights_only``):

* ``{"family": "shapesnet", "widths": [w0, w1, w2, w3], "depth": d, "num_classes": K}``
* ``{"family": "torchvision", "name": "resnet18", "num_classes": K}``

``StudentNet`` keeps ShapesNet's layout (``features`` → ``pool`` → ``fc``, GAP + linear, so
CAM applies); ``widths=(32, 64, 128, 192), depth=2`` is exactly the demo's ShapesNet.
"""

from __future__ import annotations

import torch
from torch import nn

# Named students: (widths, convs per stage). Parameters at 6 classes in the comments.
PRESETS: dict[str, tuple[tuple[int, ...], int]] = {
    "shapesnet": ((32, 64, 128, 192), 2),        # the teacher's own layout, 0.83M
    "shapesnet-small": ((16, 32, 64, 96), 1),    # 81k
    "shapesnet-tiny": ((8, 16, 32, 48), 1),      # 21k
}


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class StudentNet(nn.Module):
    """ShapesNet with free widths and depth: a 5×5 stride-2 stem and 2×2 max pool (÷4), then
    one stage of ``depth`` 3×3 convs per further width, with a 2×2 max pool after the first
    stage only (total stride 8); global average pooling and one linear layer."""

    def __init__(self, num_classes: int = 6, widths: tuple[int, ...] = PRESETS["shapesnet-small"][0],
                 depth: int = 1):
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2 or min(widths) < 1 or depth < 1:
            raise ValueError(f"a ShapesNet student needs at least 2 positive widths and depth >= 1, "
                             f"got widths {widths}, depth {depth}")
        layers: list[nn.Module] = [_conv(3, widths[0], 5, stride=2), nn.MaxPool2d(2)]
        cin = widths[0]
        for stage, width in enumerate(widths[1:]):
            if stage == 1:
                layers.append(nn.MaxPool2d(2))
            for _ in range(depth):
                layers.append(_conv(cin, width))
                cin = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def student_architecture(name: str, num_classes: int, widths=None, depth: int | None = None) -> dict:
    """The architecture dict of a student named on the command line.

    ``name``: a preset (``shapesnet``, ``shapesnet-small``, ``shapesnet-tiny``), whose widths and
    depth ``widths`` / ``depth`` may override, or a torchvision model name."""
    if name in PRESETS:
        base_widths, base_depth = PRESETS[name]
        return {"family": "shapesnet", "preset": name,
                "widths": [int(w) for w in (widths or base_widths)],
                "depth": int(depth or base_depth), "num_classes": int(num_classes)}
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ValueError(f"unknown student {name!r}: use one of {', '.join(PRESETS)} or a torchvision "
                         "classifier name ('saliency-studio models' lists them)")
    if widths or depth:
        raise ValueError("student widths and depth apply to the ShapesNet students only")
    return {"family": "torchvision", "name": name, "num_classes": int(num_classes)}


def build_student(arch: dict, seed: int | None = None) -> nn.Module:
    """A freshly initialised network for ``arch`` (seeded when ``seed`` is given)."""
    if seed is not None:
        torch.manual_seed(seed)
    family = arch.get("family")
    if family == "shapesnet":
        return StudentNet(int(arch["num_classes"]), tuple(arch["widths"]), int(arch.get("depth", 1)))
    if family == "torchvision":
        import torchvision

        kwargs = {"num_classes": int(arch["num_classes"])}
        if str(arch["name"]).startswith(("googlenet", "inception")):
            kwargs.update(aux_logits=False, init_weights=False)
        return torchvision.models.get_model(str(arch["name"]), weights=None, **kwargs)
    raise ValueError(f"unknown student architecture family {family!r} (expected shapesnet or torchvision)")


def describe(arch: dict) -> str:
    """One line naming the architecture."""
    if arch.get("family") == "shapesnet":
        return f"ShapesNet student widths {tuple(arch['widths'])} depth {arch['depth']}"
    return f"torchvision {arch.get('name')} ({arch.get('num_classes')} classes, random init)"
