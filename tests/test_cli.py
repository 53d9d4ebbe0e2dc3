"""The command line end to end: listing, explaining, artefacts, and one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from core.cli import main
from core.methods import REGISTRY

from conftest import PHOTOS, ROOT


def test_methods_lists_registry(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in REGISTRY:
        assert name in out
    assert main(["methods", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ig = next(m for m in data if m["name"] == "integrated_gradients")
    assert {p["name"] for p in ig["params"]} >= {"steps", "baseline", "quadrature"}


def test_models_lists_zoo(capsys):
    assert main(["models"]) == 0
    assert "resnet18" in capsys.readouterr().out


def test_explain_end_to_end_reproducible(tmp_path, capsys):
    out, js, mp, inp = (tmp_path / n for n in ("o.png", "r.json", "m.npy", "x.npy"))
    code = main(["explain", "--model", "resnet18", "--weights", "none", "--image", str(PHOTOS / "chelsea.png"),
                 "--method", "saliency", "--target", "281", "--out", str(out), "--json", str(js),
                 "--save-map", str(mp), "--save-input", str(inp)])
    assert code == 0, capsys.readouterr().err
    assert out.stat().st_size > 1000
    result = json.loads(js.read_text())
    assert result["method"] == "saliency" and result["target"]["index"] == 281
    assert len(result["prediction"]) == 5 and result["prediction"][0]["label"]
    assert abs(sum(p["probability"] for p in result["prediction"])) <= 1.0
    x = torch.from_numpy(np.load(inp))
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    # Anyone can reproduce the map from the saved input with another library.
    from captum.attr import Saliency

    from core.models import load_model

    net = load_model("resnet18", weights="none", seed=0).net
    expected = Saliency(net).attribute(x.requires_grad_(), target=281).amax(1)[0].detach().numpy()
    np.testing.assert_allclose(np.load(mp), expected, rtol=1e-4, atol=1e-8)


def test_explain_unit_target_and_params(tmp_path, capsys):
    js = tmp_path / "r.json"
    code = main(["explain", "--model", "resnet18", "--weights", "none", "--image", str(PHOTOS / "coffee.png"),
                 "--method", "integrated_gradients", "--unit", "layer3:5", "--param", "steps=8",
                 "--param", "baseline=zeros", "--json", str(js)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(js.read_text())
    assert result["params"]["steps"] == 8 and result["target"]["layer"] == "layer3"
    assert "completeness error" in capsys.readouterr().out


@pytest.mark.parametrize("args,needle", [
    (["explain", "--model", "resnet18", "--image", "nope.png", "--method", "saliency"], "no such file"),
    (["explain", "--model", "resnet18", "--image", "x.png", "--method", "magic"], "invalid choice"),
    (["explain", "--model", "nomodel", "--weights", "none", "--image", str(PHOTOS / "coffee.png"),
      "--method", "saliency"], "unknown model"),
    (["explain", "--model", "resnet18", "--weights", "none", "--image", str(PHOTOS / "coffee.png"),
      "--method", "saliency", "--param", "abs=maybe"], "expects bool"),
    (["explain", "--model", "resnet18", "--weights", "none", "--image", str(PHOTOS / "coffee.png"),
      "--method", "integrated_gradients", "--param", "steps=0"], "must lie in"),
    (["explain", "--model", "resnet18", "--weights", "none", "--image", str(PHOTOS / "coffee.png"),
      "--method", "saliency", "--target", "zebra-ish"], "neither a class index"),
    (["explain", "--model", "resnet18", "--weights", "none", "--image", str(PHOTOS / "coffee.png"),
      "--method", "saliency", "--unit", "layer99:1"], "no layer named"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_one_line_exit_2(capsys, args, needle):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "core", "explain", "--model", "x"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_core_never_imports_qt():
    code = ("import sys, core, core.cli, core.explain, core.methods, core.render, core.layers;"
            "bad=[m for m in sys.modules if m.split('.')[0] in ('PySide6','pyqtgraph','desktop','PyQt5','PyQt6')];"
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text()
        assert "import PySide6" not in text and "from PySide6" not in text and "pyqtgraph" not in text, path


def test_explain_demo_cam_and_synthesis(tmp_path, capsys):
    out = tmp_path / "syn.png"
    code = main(["explain", "--model", "demo", "--image", str(ROOT / "resources/images/demo/clean_ring.png"),
                 "--method", "activation_maximization", "--target", "ring", "--param", "steps=10",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "synthesised image written" in capsys.readouterr().out
    import cv2

    assert cv2.imread(str(out)).shape == (128, 128, 3)
    js = tmp_path / "r.json"
    assert main(["explain", "--model", "demo-biased", "--image",
                 str(ROOT / "resources/images/demo/counter_circle.png"), "--method", "gradcam_pp",
                 "--json", str(js)]) == 0
    result = json.loads(js.read_text())
    assert result["layer"] == "features" and result["model"]["name"] == "demo-biased"


def test_cli_scan(tmp_path, capsys):
    from conftest import write_labelled_folder
    from core.datasets.shapes import generate

    write_labelled_folder(tmp_path / "set", generate(12, seed=9))
    out = tmp_path / "scan.json"
    assert main(["scan", "--model", "demo", "--data", str(tmp_path / "set"), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["images"] == 12 and sum(map(sum, result["confusion"])) == 12
    assert "accuracy" in capsys.readouterr().out
    assert main(["scan", "--model", "demo", "--data", str(tmp_path / "nothing.txt")]) == 2
