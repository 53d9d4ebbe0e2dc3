"""safetensors state dicts wherever a state dict is accepted: no pickle, no trust question."""

import json

import pytest
import torch
import torchvision

safetensors = pytest.importorskip("safetensors")
from safetensors.torch import save_file  # noqa: E402

from core.cli import main  # noqa: E402
from core.models import ModelLoadError, Preprocess, load_model  # noqa: E402
from core.models.checkpoints import is_safetensors, read_state_dict  # noqa: E402

SMALL = Preprocess(crop=(64, 64), resize=None)


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A fine-tuned (10-class) resnet18 saved both ways."""
    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(3)
    state = torchvision.models.resnet18(num_classes=10).state_dict()
    torch.save(state, folder / "r18.pth")
    save_file(state, str(folder / "r18.safetensors"))
    save_file(state, str(folder / "r18_renamed.bin"))  # recognised by content, not by name
    return folder


def test_safetensors_equals_the_pth_path(checkpoints):
    from_pth = load_model("resnet18", str(checkpoints / "r18.pth"), preprocess=SMALL)
    from_st = load_model("resnet18", str(checkpoints / "r18.safetensors"), preprocess=SMALL)  # no trust flag
    from_bin = load_model("resnet18", str(checkpoints / "r18_renamed.bin"), preprocess=SMALL)
    assert len(from_st.labels) == 10  # the fine-tuned head was detected from the safetensors file
    assert same_weights(from_pth.net, from_st.net) and same_weights(from_pth.net, from_bin.net)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(from_pth(x), from_st(x))


def test_detection_and_wrappers(checkpoints, tmp_path):
    assert is_safetensors(checkpoints / "r18.safetensors") and is_safetensors(checkpoints / "r18_renamed.bin")
    assert not is_safetensors(checkpoints / "r18.pth")
    prefixed = {"module." + k: v for k, v in read_state_dict(checkpoints / "r18.safetensors").items()}
    save_file(prefixed, str(tmp_path / "ddp.safetensors"))  # DataParallel prefixes are stripped as for .pth
    keys = set(read_state_dict(tmp_path / "ddp.safetensors"))
    assert "conv1.weight" in keys and not any(k.startswith("module.") for k in keys)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((checkpoints / "r18.safetensors").read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="broken.safetensors"):
        read_state_dict(broken)


def test_mismatch_is_reported_like_pth(tmp_path):
    state = torchvision.models.resnet18(num_classes=10).state_dict()
    del state["layer1.0.conv1.weight"]
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(ModelLoadError, match="missing keys .1.: layer1.0.conv1.weight"):
        load_model("resnet18", str(tmp_path / "partial.safetensors"), preprocess=SMALL)


def test_safetensors_as_a_model_needs_its_architecture(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("resnet10t", num_classes=4)
    file = tmp_path / "student.safetensors"
    save_file(net.state_dict(), str(file))
    with pytest.raises(ModelLoadError, match="weights only, not a model"):
        load_model(str(file), trust=True)  # trust or not: there is no code in it to run
    (tmp_path / "student.json").write_text(json.dumps({
        "architecture": {"family": "timm", "name": "resnet10t", "num_classes": 4},
        "input_size": 64, "labels": ["a", "b", "c", "d"]}))
    bundle = load_model(str(file))
    assert bundle.labels == ["a", "b", "c", "d"] and bundle.preprocess.crop == (64, 64)
    assert same_weights(bundle.net, net)


def test_cli_explains_with_safetensors_weights(checkpoints, tmp_path, capsys):
    from conftest import ROOT

    image = ROOT / "resources" / "images" / "demo" / "clean_star.png"
    code = main(["explain", "--model", "resnet18", "--weights", str(checkpoints / "r18.safetensors"),
                 "--input-size", "64", "--image", str(image), "--method", "gradcam",
                 "--json", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["map_shape"] == [64, 64]


def test_open_model_file_asks_no_trust_for_safetensors(qtbot, monkeypatch, checkpoints):
    from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

    from desktop.input_dialog import ModelInputDialog
    from desktop.model_browser import ModelBrowser

    asked = []
    browser = ModelBrowser()
    qtbot.addWidget(browser)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(checkpoints / "r18.safetensors"), ""))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.Yes)
    monkeypatch.setattr(ModelInputDialog, "exec", lambda self: QDialog.Accepted)
    with qtbot.waitSignal(browser.file_load_requested, timeout=10_000) as blocker:
        browser._open_file()
    assert asked == [] and blocker.args[1] is False
