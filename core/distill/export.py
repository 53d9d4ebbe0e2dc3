"""Writing a distilled student: ``student.pt`` (a plain float32 state dict) and its model card
``student.json`` next to it, which ``core.models.load_model`` reads to rebuild the architecture
(no pickled code, ``weights_only=True``), the input size, mean/std and labels.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .. import __version__
from .students import describe


def card_for(distiller, evaluation: dict | None, out: Path) -> dict:
    """The model card of a trained ``Distiller`` whose weights are written to ``out``."""
    cfg = distiller.config
    pre = distiller.preprocess
    return {
        "name": out.stem,
        "weights": out.name,
        "made_by": f"saliency-studio {__version__} distill",
        "description": f"{describe(distiller.architecture)}, distilled from {cfg.teacher}",
        "architecture": distiller.architecture,
        "parameters": sum(p.numel() for p in distiller.student.parameters()),
        "input_size": int(pre.crop[0]),
        "mean": list(pre.mean),
        "std": list(pre.std),
        "labels": list(distiller.labels),
        "layer": distiller.student_layer,
        "teacher": {"model": cfg.teacher, "layer": distiller.teacher_layer,
                    "input_size": list(distiller.teacher.preprocess.crop)},
        "distillation": {
            "losses": list(cfg.loss_config().losses), "alpha": cfg.alpha, "beta": cfg.beta,
            "temperature": cfg.temperature, "map_method": cfg.map_method, "map_class": cfg.map_class,
            "map_norm": cfg.map_norm, "paper": "Chattopadhay et al. 2018 (Grad-CAM++ §7); Hinton et al. 2015 (KD)"},
        "training": {"seed": cfg.seed, "epochs": cfg.epochs, "epochs_done": distiller.epoch,
                     "images_per_epoch": cfg.images_per_epoch, "batch_size": cfg.batch_size,
                     "optimizer": "AdamW", "lr": cfg.lr, "weight_decay": cfg.weight_decay,
                     "schedule": "OneCycle", "data": distiller.data.describe(),
                     "history": distiller.history},
        "evaluation": evaluation,
    }


def save_student(distiller, out: str | Path, evaluation: dict | None = None) -> tuple[Path, Path]:
    """Write the student's state dict to ``out`` and its card to ``<stem>.json``; returns both."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu()
             for k, v in distiller.student.state_dict().items()}
    torch.save(state, out)
    card = card_for(distiller, evaluation, out)
    card["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()
    card_file = out.with_name(out.stem + ".json")
    card_file.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return out, card_file
