"""Model loading: zoo, checkpoints, TorchScript, pickled modules, odd outputs, offline weights."""

import hashlib
import io
import urllib.error
import urllib.request

import pytest
import torch
import torchvision
from torch import nn

from core.models import ModelBundle, ModelLoadError, ModelOutputError, load_model, to_logits, zoo_names
from core.models.checkpoints import read_state_dict


def test_zoo_lists_classification_models():
    names = zoo_names()
    assert {"resnet18", "vgg11", "densenet121", "mobilenet_v3_small", "vit_b_16", "swin_t"} <= set(names)
    assert not any(n.startswith(("fcn_", "deeplab", "fasterrcnn", "r3d_")) for n in names)


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0", "inception_v3", "googlenet", "squeezenet1_0"])
def test_zoo_builds_and_predicts(name):
    bundle = load_model(name, weights="none")
    h, w = bundle.preprocess.crop
    logits = bundle(torch.zeros(1, 3, h, w))
    assert logits.shape == (1, 1000)
    assert bundle.labels[0] == "tench"


def test_seeded_random_init_is_reproducible():
    a = load_model("resnet18", weights="none", seed=3).net.fc.weight
    b = load_model("resnet18", weights="none", seed=3).net.fc.weight
    c = load_model("resnet18", weights="none", seed=4).net.fc.weight
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_inception_preprocessing_from_weights_metadata():
    pre = load_model("inception_v3", weights="none").preprocess
    assert pre.crop == (299, 299) and pre.resize == 342


def test_unknown_weights_name():
    with pytest.raises(ModelLoadError, match="IMAGENET1K_V1"):
        load_model("resnet18", weights="IMAGENET9K")


def test_offline_download_names_file_and_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ModelLoadError) as info:
        load_model("resnet18", weights="DEFAULT")
    message = str(info.value)
    assert "resnet18-f37072fd.pth" in message and str(tmp_path) in message
    assert not list(tmp_path.rglob("*.part"))


class FakeResponse(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_progress_cancel_and_hash(monkeypatch, tmp_path):
    from core.jobs import Cancelled, Progress
    from core.models import download

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    payload = io.BytesIO()
    torch.save({"w": torch.arange(600_000, dtype=torch.float32)}, payload)  # ~2.4 MB: 3 chunks
    data = payload.getvalue()
    name = f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=0: FakeResponse(data))
    seen = []
    progress = Progress(callback=lambda d, t, m: seen.append((d, t)))
    path = download.fetch(f"https://example.invalid/{name}", progress)
    assert path.read_bytes() == data and seen[-1] == (seen[-1][1], seen[-1][1]) and len(seen) >= 2
    path.unlink()
    stop = Progress(callback=lambda d, t, m: stop.cancel())
    with pytest.raises(Cancelled):
        download.fetch(f"https://example.invalid/{name}", stop)
    assert not list(tmp_path.rglob("*.pth*"))
    with pytest.raises(ModelLoadError, match="corrupt"):
        download.fetch("https://example.invalid/tiny-00000000.pth")


def save_state(tmp_path, state, name="ckpt.pth"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_state_dict_wrappers_and_prefixes(tmp_path):
    net = torchvision.models.resnet18(num_classes=1000)
    wrapped = {"epoch": 3, "state_dict": {"module." + k: v for k, v in net.state_dict().items()}}
    bundle = load_model("resnet18", weights=str(save_state(tmp_path, wrapped)))
    assert torch.equal(bundle.net.fc.weight, net.fc.weight)


def test_state_dict_for_other_class_count_is_adapted(tmp_path):
    net = torchvision.models.resnet18(num_classes=10)
    bundle = load_model("resnet18", weights=str(save_state(tmp_path, net.state_dict())))
    assert bundle(torch.zeros(1, 3, 64, 64)).shape == (1, 10)
    assert bundle.labels == [f"class {i}" for i in range(10)]


def test_state_dict_mismatch_report(tmp_path):
    net = torchvision.models.resnet18(num_classes=10)
    state = net.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["layer1.0.conv1.weight"]
    path = save_state(tmp_path, state)
    with pytest.raises(ModelLoadError) as info:
        load_model("resnet18", weights=str(path), num_classes=1000)
    message = str(info.value)
    assert "missing keys (1): layer1.0.conv1.weight" in message
    assert "unexpected keys (1): extra.weight" in message
    assert "fc.weight: checkpoint (10, 512) vs model (1000, 512)" in message
    assert "implies 10 classes" in message


def test_torchscript_file(tmp_path):
    net = torchvision.models.resnet18(num_classes=5).eval()
    path = tmp_path / "scripted.pt"
    torch.jit.script(net).save(str(path))
    bundle = load_model(str(path))
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(bundle(x), net(x), atol=1e-5)
    with pytest.raises(ModelLoadError, match="TorchScript"):
        load_model("resnet18", weights=str(path))


def test_pickled_module_needs_trust(tmp_path):
    net = torchvision.models.resnet18(num_classes=3)
    path = tmp_path / "whole.pth"
    torch.save(net, path)
    with pytest.raises(ModelLoadError, match="runs code"):
        load_model(str(path))
    with pytest.raises(ModelLoadError, match="pickled"):
        load_model("resnet18", weights=str(path))
    bundle = load_model(str(path), trust=True)
    assert bundle(torch.zeros(1, 3, 32, 32)).shape == (1, 3)


def test_garbage_files(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(ModelLoadError):
        load_model("resnet18", weights=str(bad))
    with pytest.raises(ModelLoadError):
        load_model(str(bad), trust=True)
    with pytest.raises(ModelLoadError, match="no such"):
        load_model(str(tmp_path / "missing.pt"))
    with pytest.raises(ModelLoadError, match="unknown model"):
        load_model("resnet1800")
    state = {"weights_only": {"a": 1}}
    with pytest.raises(ModelLoadError, match="no state dict"):
        read_state_dict(save_state(tmp_path, state, "odd.pth"))


class Returns(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        logits = self.fc(x.mean((2, 3)))
        if self.kind == "tuple":
            return logits, torch.zeros(1)
        if self.kind == "dict":
            return {"logits": logits, "features": x}
        if self.kind == "object":
            return type("ModelOutput", (), {"logits": logits})()
        if self.kind == "features":
            return {"features": x}
        return "surprise"


@pytest.mark.parametrize("kind", ["tuple", "dict", "object"])
def test_output_adapters(kind):
    bundle = ModelBundle(Returns(kind))
    x = torch.randn(2, 3, 4, 4)
    assert torch.allclose(bundle(x), bundle.net.fc(x.mean((2, 3))))


@pytest.mark.parametrize("kind,needle", [("features", "'features'"), ("str", "str")])
def test_unusable_outputs_are_described(kind, needle):
    with pytest.raises(ModelOutputError, match=needle):
        ModelBundle(Returns(kind))(torch.randn(1, 3, 4, 4))
    with pytest.raises(ModelOutputError, match=r"shape \(2, 3, 4\)"):
        to_logits(torch.zeros(2, 3, 4))


def test_fast_logits_fused_twin():
    bundle = load_model("resnet18", weights="none")
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        fast = bundle.fast_logits(x)
        assert bundle.folded_net() is not bundle.net
        assert torch.allclose(fast, bundle(x), atol=1e-4)
    with torch.no_grad():
        bundle.net.fc.bias.add_(1.0)  # an in-place change must rebuild the twin
    with torch.inference_mode():
        assert torch.allclose(bundle.fast_logits(x), bundle(x), atol=1e-4)
    assert bundle.fast_logits(x).requires_grad  # with grad enabled it is the plain model


def test_fast_logits_untraceable_model_falls_back():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: FX cannot trace it
                return self.fc(x.mean((2, 3)))
            return -self.fc(x.mean((2, 3)))

    bundle = ModelBundle(Branchy())
    with torch.inference_mode():
        x = torch.rand(1, 3, 4, 4)
        assert torch.equal(bundle.fast_logits(x), bundle(x)) and bundle.folded_net() is bundle.net
