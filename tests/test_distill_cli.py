"""``saliency-studio distill``: writes a state dict + model card that load through load_model and
explain without --trust; Ctrl-C saves a checkpoint and --resume finishes to the same weights."""

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from core.cli import main
from core.datasets.shapes import CLASSES

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["distill", "--student", "shapesnet-tiny", "--epochs", "2", "--images-per-epoch", "32", "--batch-size", "16",
        "--image-size", "64", "--eval-images", "12", "--seed", "4", "--threads", "1"]


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    before = torch.get_num_threads()
    out = tmp_path_factory.mktemp("distill") / "student.pt"
    assert main(ARGS + ["--out", str(out)]) == 0
    torch.set_num_threads(before)
    return out


def test_cli_writes_a_state_dict_and_card(student, capsys):
    card = json.loads(student.with_suffix(".json").read_text())
    assert card["architecture"] == {"family": "shapesnet", "preset": "shapesnet-tiny", "widths": [8, 16, 32, 48],
                                    "depth": 1, "num_classes": 6}
    assert card["input_size"] == 64 and card["labels"] == list(CLASSES) and card["mean"] == [0.5] * 3
    assert card["teacher"]["model"] == "demo" and card["teacher"]["layer"] == "features"
    dist = card["distillation"]
    assert dist["losses"] == ["ce", "kd", "interp"] and (dist["alpha"], dist["beta"], dist["temperature"]) == (1, 10, 4)
    assert card["training"]["seed"] == 4 and card["training"]["epochs"] == 2
    assert len(card["training"]["history"]) == 2
    ev = card["evaluation"]
    assert ev["images"] == 12 and 0 <= ev["accuracy"] <= 1 and -1 <= ev["cam_pearson"] <= 1
    assert 0 <= ev["pointing_game_student"] <= 1
    state = torch.load(student, weights_only=True)            # a plain state dict
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_student_loads_without_trust_and_explains(student, tmp_path, capsys):
    from core.models import load_model

    bundle = load_model(str(student))
    assert bundle.preprocess.crop == (64, 64) and bundle.preprocess.mean == (0.5, 0.5, 0.5)
    assert bundle.labels == list(CLASSES) and bundle.name == "student"
    saved = torch.load(student, weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in bundle.net.state_dict().items())
    out = tmp_path / "result.json"
    rc = main(["explain", "--model", str(student), "--image", str(ROOT / "resources/images/demo/clean_star.png"),
               "--method", "gradcam", "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert json.loads(out.read_text())["method"] == "gradcam"


def test_broken_architecture_in_card_is_one_line(student, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(student.read_bytes())
    (tmp_path / "bad.json").write_text(json.dumps({"architecture": {"family": "lenet"}}))
    assert main(["explain", "--model", str(bad), "--image", str(ROOT / "resources/images/demo/clean_star.png"),
                 "--method", "gradcam"]) == 2
    assert "'architecture' family must be one of" in capsys.readouterr().err


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_the_same(student, tmp_path, monkeypatch, capsys):
    from core.distill import trainer

    before = torch.get_num_threads()
    original = trainer.Distiller.train_step

    def step_then_interrupt(self):
        values = original(self)
        if (self.epoch, self.step) == (0, 1):
            os.kill(os.getpid(), signal.SIGINT)     # the CLI turns Ctrl-C into a cancel at the next step
        return values

    monkeypatch.setattr(trainer.Distiller, "train_step", step_then_interrupt)
    out = tmp_path / "student.pt"
    assert main(ARGS + ["--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "checkpoint saved" in err and "--resume" in err
    ckpt = trainer.read_checkpoint(tmp_path / "student.ckpt")
    assert (ckpt["epoch"], ckpt["step"]) == (0, 1) and not out.exists()
    monkeypatch.setattr(trainer.Distiller, "train_step", original)

    assert main(ARGS + ["--out", str(out), "--resume", "--seed", "5"]) == 2    # other settings: refused
    assert "other settings" in capsys.readouterr().err
    assert main(ARGS + ["--out", str(out), "--resume"]) == 0
    torch.set_num_threads(before)
    resumed, whole = torch.load(out, weights_only=True), torch.load(student, weights_only=True)
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)
