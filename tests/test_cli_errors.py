"""Every CLI error is one line on stderr with exit status 2 — never a traceback — for a corpus of
bad arguments and bad files; ``--debug`` adds the traceback."""

import zipfile

import numpy as np
import pytest
import torch

from core.cli import main

from conftest import ROOT

STAR = str(ROOT / "resources/images/demo/clean_star.png")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.pth").write_bytes(b"")
    (root / "empty.pt").write_bytes(b"")
    (root / "noise.pth").write_bytes(np.random.default_rng(0).bytes(300))
    (root / "text.pt").write_text("not a model\n")
    with zipfile.ZipFile(root / "truncated.pt", "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02garbage")
    torch.save({"conv.weight": torch.zeros(3)}, root / "wrong_arch.pth")
    torch.save({"x": 1, "y": "two"}, root / "no_tensors.pth")
    torch.save(torch.nn.Linear(2, 2), root / "pickled_module.pt")
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("hello")
    (root / "half.png").write_bytes((ROOT / "resources/images/demo/clean_star.png").read_bytes()[:200])
    (root / "folder.png").mkdir()
    (root / "labels_empty.txt").write_text("")
    (root / "bad.json").write_text("{not json")
    (root / "empty_dir").mkdir()
    return root


def _explain(*extra, model="demo", image=STAR, method="gradcam"):
    return ["explain", "--model", model, "--image", image, "--method", method, *extra]


CASES = [
    # bad weight / model files
    lambda d: _explain("--weights", str(d / "empty.pth"), model="resnet18"),
    lambda d: _explain(model=str(d / "empty.pt")),
    lambda d: _explain("--trust", model=str(d / "empty.pt")),
    lambda d: _explain("--weights", str(d / "noise.pth"), model="resnet18"),
    lambda d: _explain(model=str(d / "text.pt")),
    lambda d: _explain(model=str(d / "truncated.pt")),
    lambda d: _explain("--weights", str(d / "truncated.pt"), model="resnet18"),
    lambda d: _explain("--weights", str(d / "wrong_arch.pth"), model="resnet18"),
    lambda d: _explain("--weights", str(d / "no_tensors.pth"), model="resnet18"),
    lambda d: _explain(model=str(d / "pickled_module.pt")),  # needs --trust
    lambda d: _explain(model=str(d / "missing.pt")),
    lambda d: _explain(model=str(d)),
    # bad images
    lambda d: _explain(image=str(d / "empty.png")),
    lambda d: _explain(image=str(d / "text.png")),
    lambda d: _explain(image=str(d / "half.png")),
    lambda d: _explain(image=str(d / "folder.png")),
    lambda d: _explain(image=str(d / "missing.png")),
    # bad arguments
    lambda d: _explain("--labels", str(d / "bad.json")),
    lambda d: _explain("--labels", str(d / "missing.txt")),
    lambda d: _explain("--device", "cuda:7"),
    lambda d: _explain("--device", "toaster"),
    lambda d: _explain("--layer", "nope"),
    lambda d: _explain("--layer", "fc"),
    lambda d: _explain("--unit", "features"),
    lambda d: _explain("--unit", "features:x"),
    lambda d: _explain("--unit", "features.5:999"),
    lambda d: _explain("--unit", "features.5:3", "--layer", "features"),
    lambda d: _explain("--unit", "features.5:3", "--target-kind", "probability"),
    lambda d: _explain("--target", "999"),
    lambda d: _explain("--target", "-1"),
    lambda d: _explain("--param", "relu"),
    lambda d: _explain("--param", "nosuch=1"),
    lambda d: _explain(method="cam", *("--layer", "features.3")),
    lambda d: _explain("--out", str(d / "text.png" / "o.png")),  # a parent that is a file
    lambda d: ["evaluate", "--model", "demo", "--images", str(d / "empty_dir"), "--methods", "gradcam"],
    lambda d: ["evaluate", "--model", "demo", "--images", STAR, "--methods", "gradcam", "--metrics", "vibes"],
    lambda d: ["evaluate", "--model", "demo", "--images", STAR, "--methods", "gradcam", "--metrics", "iou"],
    lambda d: ["evaluate", "--model", "demo", "--images", STAR, "--methods", "nosuch"],
    lambda d: ["evaluate", "--model", "demo", "--images", STAR, "--methods", "gradcam", "--annotations",
               str(d / "bad.json"), "--metrics", "iou"],
    lambda d: ["scan", "--model", "demo", "--data", str(d / "empty_dir")],
    lambda d: ["scan", "--model", "demo", "--data", str(d / "missing")],
    lambda d: [],
    lambda d: ["explain"],
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_bad_input_is_one_line_exit_2(bad_files, capsys, case):
    argv = CASES[case](bad_files)
    assert main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert err.startswith("saliency-studio: error: ") and len(err.splitlines()) == 1, (argv, err)
    assert "Traceback" not in err, err


def test_empty_checkpoint_names_the_file(bad_files, capsys):
    assert main(_explain("--weights", str(bad_files / "empty.pth"), model="resnet18")) == 2
    err = capsys.readouterr().err
    assert "empty.pth" in err and "IndexError" not in err


def test_debug_prints_the_traceback(bad_files, capsys):
    assert main(["--debug", *_explain("--weights", str(bad_files / "empty.pth"), model="resnet18")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("saliency-studio: error: ")
