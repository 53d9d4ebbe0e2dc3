"""Audit fixes around targets and layers: the target kind applies to the predicted class, unit
targets never give a silent blank Grad-CAM, and reused layers say which call is explained."""

import json

import pytest
import torch
from torch import nn

from core.capture import CaptureCache, LayerError, capture
from core.cli import main
from core.explain import Explainer
from core.images import load_image
from core.layers import layer_table
from core.models import load_model
from core.targets import ClassTarget, parse_unit

from conftest import ROOT
from toy_models import bundle_of

STAR = str(ROOT / "resources/images/demo/clean_star.png")


@pytest.fixture(scope="module")
def demo():
    return Explainer(load_model("demo"), load_image(STAR))


@pytest.mark.parametrize("kind", ["probability", "log_probability"])
def test_target_kind_applies_to_the_predicted_class(tmp_path, capsys, kind):
    js, mp = tmp_path / "r.json", tmp_path / "m.npy"
    assert main(["explain", "--model", "demo", "--image", STAR, "--method", "saliency", "--target-kind", kind,
                 "--json", str(js), "--save-map", str(mp), "--param", "abs=false", "--param", "reduce=sum"]) == 0
    result = json.loads(js.read_text())
    assert result["target"]["kind"] == kind and result["target"]["index"] == 3  # star, the prediction
    import numpy as np

    bundle = load_model("demo")
    _, x = bundle.prepare(load_image(STAR))
    x.requires_grad_(True)
    logp = torch.log_softmax(bundle(x), 1)[0, 3]
    score = logp if kind == "log_probability" else logp.exp()
    (g,) = torch.autograd.grad(score, x)
    np.testing.assert_allclose(np.load(mp), g[0].sum(0).numpy(), rtol=1e-4, atol=1e-9)
    assert kind.replace("_", " ") in capsys.readouterr().out.replace("_", " ")


def test_unit_target_without_layer_uses_a_layer_before_the_unit(demo):
    result = demo.explain("gradcam", target=parse_unit("features.5:3"))
    assert result.layer == "features.3" and result.map.max() > 0
    assert "before unit features.5:3" in result.info["note"]
    # The unit's first block has nothing before it: its own layer, said so.
    first = demo.explain("gradcam", target=parse_unit("features.0:3"))
    assert first.layer == "features.0" and "own layer" in first.info["note"]


@pytest.mark.parametrize("layer", ["features", "features.5", "features.7"])
def test_unit_target_at_a_layer_without_its_gradient_is_refused(demo, layer):
    if layer == "features.5":  # the unit's own layer has a gradient: allowed
        assert demo.explain("gradcam", target=parse_unit("features.5:3"), layer=layer).map.max() > 0
        return
    with pytest.raises(LayerError, match="structurally zero.*e.g. features.3"):
        demo.explain("gradcam_pp", target=parse_unit("features.5:3"), layer=layer)


def test_cli_unit_without_layer_is_not_blank(tmp_path, capsys):
    mp = tmp_path / "m.npy"
    assert main(["explain", "--model", "demo", "--image", STAR, "--method", "gradcam", "--unit", "features.5:3",
                 "--save-map", str(mp)]) == 0
    import numpy as np

    assert np.load(mp).max() > 0
    assert "features.3" in capsys.readouterr().out


def test_all_zero_map_is_said():
    net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 8 * 8, 2))
    with torch.no_grad():
        net[0].bias.fill_(-100.0)  # every ReLU is off: no gradient reaches the input
    bundle = bundle_of(net, size=(8, 8))
    explainer = Explainer.from_input(bundle, torch.rand(1, 3, 8, 8), (torch.rand(8, 8, 3) * 255).byte().numpy())
    for method in ("saliency", "gradcam"):
        result = explainer.explain(method, layer="0" if method == "gradcam" else None)
        assert not result.map.any() and "zero everywhere" in result.info["warning"], method


class Reused(nn.Module):
    """The same block applied twice: its two calls see different inputs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = self.block(self.block(self.stem(x)))
        return self.fc(h.mean((2, 3)))


def test_reused_layer_calls_are_counted_and_selectable():
    bundle = bundle_of(Reused(), size=(8, 8))
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    assert {i.name: i.calls for i in layer_table(bundle)}["block"] == 2
    last = capture(bundle, x, ClassTarget(0), ["block"])
    first = capture(bundle, x, ClassTarget(0), ["block#1"])
    second = capture(bundle, x, ClassTarget(0), ["block#2"])
    assert last.calls["block"] == 2
    assert torch.equal(last.activations["block"], second.activations["block#2"])
    assert not torch.allclose(first.activations["block#1"], second.activations["block#2"])
    # the first call's output is the second call's input: recompute it by hand
    with torch.no_grad():
        assert torch.allclose(first.activations["block#1"], bundle.net.block(bundle.net.stem(x)))
    with pytest.raises(LayerError, match="never made"):
        capture(bundle, x, ClassTarget(0), ["block#3"])
    explainer = Explainer.from_input(bundle, x, (torch.rand(8, 8, 3) * 255).byte().numpy())
    result = explainer.explain("gradcam", layer="block")
    assert "runs 2 times" in result.info["note"] and "last call" in result.info["note"]
    assert "call 1 is used" in explainer.explain("gradcam", layer="block#1").info["note"]
    assert CaptureCache().get(bundle, x, ClassTarget(0), ["block#1"]).gradients["block#1"].abs().sum() > 0
