"""What a dataset run is, as plain picklable data: the model to load (``ModelSpec``, so a Ray
actor can load it once by itself) and the run's options (``RunOptions``)."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata

TARGETS = ("predicted", "label")


@dataclass(frozen=True)
class ModelSpec:
    """The model options of the CLI (``commands.common.model_arguments``) as data."""

    model: str
    weights: str | None = None
    num_classes: int | None = None
    labels: str | None = None
    trust: bool = False
    device: str = "cpu"
    seed: int = 0
    input_size: str | None = None
    resize: str | None = None
    channels: str | None = None
    mean: str | None = None
    std: str | None = None
    channel_order: str | None = None

    @classmethod
    def from_args(cls, args) -> "ModelSpec":
        return cls(**{k: getattr(args, k, None) for k in cls.__dataclass_fields__ if hasattr(args, k)})

    def load(self, device: str | None = None):
        """The ``ModelBundle`` (``device`` overrides the spec's, e.g. one GPU per Ray actor)."""
        from ..models import load_model, spec_from_options

        inputs = spec_from_options(self.input_size, self.resize, self.channels, self.mean, self.std,
                                   self.channel_order)
        return load_model(self.model, self.weights if self.weights is not None else "DEFAULT", trust=self.trust,
                          labels=self.labels, device=device or self.device, seed=self.seed,
                          num_classes=self.num_classes, inputs=inputs)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunOptions:
    """Methods and metrics with their resolved parameters, and how the maps are made.

    ``target``: the class explained, ``predicted`` (default) or the true ``label`` where known;
    ``layer``: the layer of layer methods (``None``: the model's default layer); ``batch_size``:
    images per forward/backward (0: chosen for the device; models with batch statistics: 1)."""

    methods: dict[str, dict] = field(default_factory=dict)
    metrics: dict[str, dict] = field(default_factory=dict)
    layer: str | None = None
    target: str = "predicted"
    seed: int = 0
    batch_size: int = 0

    def __post_init__(self):
        if self.target not in TARGETS:
            raise ValueError(f"the explained class is one of {', '.join(TARGETS)}, not {self.target!r}")


def package_versions() -> dict[str, str]:
    """Versions of the packages a run's numbers depend on."""
    out = {"python": platform.python_version()}
    for name in ("saliency-studio", "torch", "torchvision", "numpy", "opencv-python-headless", "scikit-learn",
                 "ray"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
