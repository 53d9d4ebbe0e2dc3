"""Training a student from a teacher: the loop, its checkpoints and resuming.

One "epoch" is a fixed number of images (``images_per_epoch``), so runs of different data
sources and batch sizes are comparable. AdamW with a one-cycle learning rate over all steps
(the demo model's recipe, ``core.datasets.train``). A checkpoint (student, optimiser, schedule,
torch RNG, position, running sums, history) is written after every epoch and when the run is
cancelled (``Progress.cancel()``, which the CLI calls on Ctrl-C); it is read back with
``torch.load(weights_only=True)``. Batches depend only on (seed, epoch, step), so a resumed
run reproduces an uninterrupted one exactly on the same machine.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from ..jobs import Cancelled, Progress, ensure_progress
from ..models.preprocess import Preprocess
from .data import ImageFolderData, ShapesStream, to_input
from .loss import LossConfig, distill_loss
from .maps import teacher_maps
from .students import build_student, student_architecture

CHECKPOINT_FORMAT = "saliency-studio distill checkpoint"


@dataclass(frozen=True)
class DistillConfig:
    """Everything that defines a run (the student's card and the checkpoint record it)."""

    teacher: str = "demo"
    student: str = "shapesnet-small"
    student_widths: tuple[int, ...] | None = None
    student_depth: int | None = None
    teacher_layer: str | None = None      # None: the teacher's default layer (last spatial block)
    student_layer: str | None = None      # None: the student's default layer
    losses: tuple[str, ...] = ("ce", "kd", "interp")
    alpha: float = 1.0
    beta: float = 10.0
    temperature: float = 4.0
    map_method: str = "gradcam_pp"
    map_class: str = "true"
    map_norm: str = "l2"
    epochs: int = 4
    images_per_epoch: int = 4096
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 5e-4
    seed: int = 0
    image_size: int | None = None         # the student's input side; None: the teacher's
    data: str | None = None               # an ImageFolder; None: the shapes generator
    eval_images: int = 300

    def __post_init__(self):
        for name in ("epochs", "images_per_epoch", "batch_size", "eval_images"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1")
        if self.images_per_epoch < self.batch_size:
            raise ValueError(f"images-per-epoch ({self.images_per_epoch}) must be at least the batch size "
                             f"({self.batch_size})")
        self.loss_config()  # validates the loss settings

    def loss_config(self) -> LossConfig:
        return LossConfig(tuple(self.losses), self.alpha, self.beta, self.temperature, self.map_method,
                          self.map_class, self.map_norm)

    @property
    def steps_per_epoch(self) -> int:
        return self.images_per_epoch // self.batch_size

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "DistillConfig":
        names = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in names}
        return cls(**values)


def differences(a: DistillConfig, b: DistillConfig) -> list[str]:
    """The fields on which two configurations differ, as ``name: a vs b``."""
    da, db = a.to_dict(), b.to_dict()
    return [f"{k}: {da[k]!r} vs {db[k]!r}" for k in da if da[k] != db[k]]


def checkpoint_path(out: str | Path) -> Path:
    """Where the checkpoint of a run writing ``out`` lives: ``<stem>.ckpt`` next to it."""
    out = Path(out)
    return out.with_name(out.stem + ".ckpt")


class Distiller:
    """One distillation run: teacher bundle (frozen: eval mode, no parameter gradients), student,
    optimiser, position.

    ``teacher_cache`` (optional dict) memoises the teacher's logits and maps per batch, so
    several runs over the same images (the bench's students) pay for the teacher once."""

    def __init__(self, config: DistillConfig, teacher, data=None, teacher_cache: dict | None = None,
                 device: str | torch.device = "cpu"):
        from ..layers import default_layer

        self.config, self.teacher, self.device = config, teacher, torch.device(device)
        self.loss_config = config.loss_config()
        teacher.net.eval().requires_grad_(False)
        size = config.image_size or teacher.preprocess.crop[0]
        if data is None:
            data = (ShapesStream(size=teacher.preprocess.crop[0]) if config.data is None
                    else ImageFolderData(config.data, teacher.labels, size=max(size, teacher.preprocess.crop[0])))
        self.data = data
        self.labels = list(data.classes)
        self.architecture = student_architecture(config.student, len(self.labels), config.student_widths,
                                                 config.student_depth)
        self.student = build_student(self.architecture, seed=config.seed).to(self.device)
        three = teacher.preprocess.channels == 3
        self.preprocess = Preprocess(crop=(size, size), resize=None,
                                     mean=tuple(teacher.preprocess.mean) if three else (0.5,) * 3,
                                     std=tuple(teacher.preprocess.std) if three else (0.25,) * 3)
        self.teacher_layer = config.teacher_layer or default_layer(teacher)
        self.student_layer = config.student_layer or self._student_default_layer(default_layer)
        self.optimizer = torch.optim.AdamW(self.student.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=config.lr, total_steps=config.epochs * config.steps_per_epoch, pct_start=0.2)
        self.teacher_cache = teacher_cache
        self.epoch = self.step = 0
        self.sums: dict[str, float] = {}
        self.history: list[dict] = []
        self.torch_rng = torch.get_rng_state()

    def _student_default_layer(self, default_layer) -> str:
        if self.architecture["family"] == "shapesnet":
            return "features"
        from ..models.bundle import ModelBundle

        bundle = ModelBundle(net=self.student, preprocess=self.preprocess, labels=self.labels, device=self.device)
        layer = default_layer(bundle)
        self.student.train()
        return layer

    @property
    def done(self) -> bool:
        return self.epoch >= self.config.epochs

    # -- one step -----------------------------------------------------------------------------
    def _teacher_targets(self, images, labels: torch.Tensor, key) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        cfg = self.loss_config
        if not cfg.needs_teacher:
            return None, None
        if self.teacher_cache is not None and key in self.teacher_cache:
            return self.teacher_cache[key]
        x_t = to_input(images, self.teacher.preprocess).to(self.device, memory_format=torch.channels_last)
        classes = labels if cfg.map_class == "true" else None
        with self.teacher.keep_buffers():
            if cfg.uses("interp") or self.teacher_cache is not None:
                out = teacher_maps(self.teacher.net, x_t, self.teacher_layer, cfg.method, classes)
            else:
                with torch.inference_mode():
                    out = (self.teacher(x_t).detach().clone(), None)
        if self.teacher_cache is not None:
            self.teacher_cache[key] = out
        return out

    def precompute_teacher(self) -> int:
        """Fill ``teacher_cache`` with the teacher's outputs for every batch of the run (a bench
        pays for the teacher once, outside the timed runs); returns the number of batches."""
        if self.teacher_cache is None:
            self.teacher_cache = {}
        cfg = self.config
        for epoch in range(cfg.epochs):
            for step in range(cfg.steps_per_epoch):
                batch = self.data.batch(cfg.seed, epoch, step, cfg.batch_size)
                labels = torch.from_numpy(batch.labels).to(self.device)
                self._teacher_targets(batch.images, labels, self._cache_key(epoch, step))
        return cfg.epochs * cfg.steps_per_epoch

    def _cache_key(self, epoch: int, step: int) -> tuple:
        cfg = self.config
        return (cfg.seed, epoch, step, cfg.batch_size, self.teacher_layer, cfg.map_method, cfg.map_class)

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        torch.set_rng_state(self.torch_rng)
        batch = self.data.batch(cfg.seed, self.epoch, self.step, cfg.batch_size)
        labels = torch.from_numpy(batch.labels).to(self.device)
        t_logits, t_maps = self._teacher_targets(batch.images, labels, self._cache_key(self.epoch, self.step))
        x = to_input(batch.images, self.preprocess).to(self.device)
        self.student.train()
        total, values, logits = distill_loss(self.student, x, labels, self.loss_config, self.student_layer,
                                             t_logits, t_maps)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.scheduler.step()
        values["train_accuracy"] = float((logits.detach().argmax(1) == labels).float().mean())
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.step += 1
        self.torch_rng = torch.get_rng_state()
        return values

    # -- the loop -------------------------------------------------------------------------------
    def train(self, progress: Progress | None = None, checkpoint: str | Path | None = None,
              on_epoch=None) -> list[dict]:
        """Train to the configured number of epochs from the current position; returns the
        history (one dict per epoch: mean loss terms, train accuracy, seconds).

        ``progress.step()`` runs after every optimisation step; when it raises ``Cancelled``
        the checkpoint (if any) is written at that step and ``Cancelled`` propagates."""
        cfg = self.config
        per_epoch = cfg.steps_per_epoch
        progress = ensure_progress(progress, cfg.epochs * per_epoch)
        progress.done = self.epoch * per_epoch + self.step
        started = time.perf_counter()
        try:
            while not self.done:
                values = self.train_step()
                if self.step >= per_epoch:
                    self._end_epoch(time.perf_counter() - started)
                    if on_epoch is not None:   # first: what it adds to the history is checkpointed
                        on_epoch(self.history[-1])
                    if checkpoint is not None:
                        self.save_checkpoint(checkpoint)
                progress.step(1, _describe_step(self, values))
        except Cancelled:
            if checkpoint is not None:
                self.save_checkpoint(checkpoint)
            raise
        return self.history

    def _end_epoch(self, seconds: float) -> None:
        n = max(self.step, 1)
        entry = {"epoch": self.epoch + 1, **{k: v / n for k, v in self.sums.items()},
                 "seconds": round(seconds, 2)}
        self.history.append(entry)
        self.epoch += 1
        self.step = 0
        self.sums = {}

    def evaluate(self, images: int | None = None, teacher_cache: dict | None = None) -> dict:
        """Accuracy and map agreement on ``images`` fresh (or held-out) images (``evaluate.py``)."""
        from .evaluate import evaluate

        data = self.data.evaluation(images or self.config.eval_images)
        return evaluate(self.student, self.preprocess, self.student_layer, self.teacher, self.teacher_layer, data,
                        self.config.map_method, device=self.device, teacher_cache=teacher_cache)

    # -- checkpoints ----------------------------------------------------------------------------
    def state(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "version": 1, "config": self.config.to_dict(),
                "architecture": self.architecture, "teacher_layer": self.teacher_layer,
                "student_layer": self.student_layer, "epoch": self.epoch, "step": self.step,
                "sums": dict(self.sums), "history": list(self.history),
                "student": self.student.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "torch_rng": self.torch_rng}

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the checkpoint atomically (a temporary file, then a rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self.state(), tmp)
        os.replace(tmp, path)
        return path

    def load_state(self, state: dict) -> None:
        self.student.load_state_dict(state["student"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.sums = dict(state["sums"])
        self.history = list(state["history"])
        self.torch_rng = state["torch_rng"]


def read_checkpoint(path: str | Path) -> dict:
    """A distillation checkpoint, read safely (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path} (it is written after the first epoch or on cancel)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a distillation checkpoint")
    return state


def resume(path: str | Path, teacher, config: DistillConfig | None = None, **kwargs) -> Distiller:
    """A ``Distiller`` at the position saved in ``path``. ``config``, when given, must equal the
    checkpoint's (else a ``ValueError`` lists the differences)."""
    state = read_checkpoint(path)
    saved = DistillConfig.from_dict(state["config"])
    if config is not None and config != saved:
        raise ValueError(f"the checkpoint {path} was made with other settings: " + "; ".join(differences(config, saved)))
    distiller = Distiller(saved, teacher, **kwargs)
    distiller.load_state(state)
    return distiller


def _describe_step(d: Distiller, values: dict) -> str:
    terms = " ".join(f"{k} {v:.3f}" for k, v in values.items() if k not in ("total", "train_accuracy"))
    return f"epoch {min(d.epoch + 1, d.config.epochs)}/{d.config.epochs}: {terms} (batch accuracy " \
           f"{values['train_accuracy']:.2f})"
