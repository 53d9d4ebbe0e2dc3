"""The registry carries what the GUI needs: plain sentences, cost classes, pass counts,
output kinds, labels, basic/advanced flags and relevance rules (issue 13, item 4)."""

import json

import pytest
import torch
from torch import nn

from core.cli import main
from core.methods import (COST_CLASSES, OUTPUT_KINDS, REGISTRY, MethodContext, Param, estimate_seconds,
                          format_seconds, get_method)
from core.methods.registry import register
from core.layers import layer_table
from core.models import ModelBundle, Preprocess
from core.targets import ClassTarget

ADVANCED = {"batch_size", "quadrature", "relu_scope", "alpha_norm", "variant", "interpolation", "reduce"}
BASIC = {"steps", "samples", "noise", "baseline", "window", "masks"}


def test_eighteen_methods_registered():
    assert len(REGISTRY) == 18


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_method_has_the_gui_fields(name):
    spec = REGISTRY[name]
    text = spec.description
    assert text and text != spec.summary and text[0].isupper() and text.endswith(".")
    assert text.count(". ") == 0 and len(text) < 200  # one sentence
    assert spec.cost in COST_CLASSES and spec.output in OUTPUT_KINDS
    assert spec.auto_run == (spec.cost == "instant")
    n = spec.passes()
    assert isinstance(n, int) and n >= 1
    if spec.cost == "instant":
        assert n <= 2
    for p in spec.params:
        assert p.label and p.help
        assert p.is_relevant(spec.resolve()) or p.relevant_when  # irrelevant at defaults only by a rule
        if p.name in ADVANCED:
            assert p.advanced, f"{name}.{p.name} should be advanced"
        if p.name in BASIC:
            assert not p.advanced, f"{name}.{p.name} should be basic"


def test_output_kind_replaces_family_checks():
    assert [n for n, s in REGISTRY.items() if s.output == "image"] == ["activation_maximization"]
    instant = {n for n, s in REGISTRY.items() if s.auto_run}
    assert {"saliency", "gradcam", "gradcam_pp", "guided_backprop", "layercam"} <= instant
    assert not instant & {"smoothgrad", "integrated_gradients", "rise", "occlusion", "scorecam",
                          "activation_maximization"}


@pytest.mark.parametrize("name, param, small, large", [
    ("smoothgrad", "samples", 10, 100), ("integrated_gradients", "steps", 10, 100), ("rise", "masks", 100, 1000),
    ("activation_maximization", "steps", 10, 100), ("occlusion", "window", 64, 8)])
def test_passes_grow_with_the_work(name, param, small, large):
    spec = REGISTRY[name]
    extra = {"stride": 8} if name == "occlusion" else {}
    assert spec.passes({param: large, **extra}, (224, 224)) > spec.passes({param: small, **extra}, (224, 224))


def test_passes_depend_on_input_size_and_channels():
    occ, score = REGISTRY["occlusion"], REGISTRY["scorecam"]
    assert occ.passes(None, (448, 448)) > occ.passes(None, (224, 224))
    assert occ.passes({"window": 16, "stride": 16}, (32, 32)) == 4 + 1
    assert score.passes(None, channels=2048) > score.passes(None, channels=64) > 1
    assert score.passes() > 100  # a guess before the layer is captured


class Counting(nn.Module):
    """Counts the images it is given (every forward, batched or not)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.images = 0

    def forward(self, x):
        self.images += x.shape[0]
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.mark.parametrize("name, params", [
    ("saliency", {}), ("gradcam", {}), ("guided_gradcam", {}), ("scorecam", {}), ("smoothgrad", {"samples": 7}),
    ("integrated_gradients", {"steps": 9}), ("integrated_gradients", {"steps": 9, "quadrature": "riemann_right"}),
    ("integrated_gradients", {"steps": 9, "quadrature": "riemann_trapezoid"}),
    ("occlusion", {"window": 8, "stride": 4}), ("rise", {"masks": 30}), ("activation_maximization", {"steps": 5})])
def test_passes_count_the_images_the_network_sees(name, params):
    net = Counting()
    pre = Preprocess(crop=(24, 24), resize=None, mean=(0.0,) * 3, std=(1.0,) * 3)
    bundle = ModelBundle(net, preprocess=pre, labels=["a", "b", "c"], mutates_buffers=True)  # no fused twin
    layer_table(bundle)  # the dry run that finds layer layouts: once per model, not per method
    net.images = 0
    spec = get_method(name)
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    spec(MethodContext(bundle, x, ClassTarget(0), layer="conv" if spec.needs_layer else None), **params)
    assert net.images == spec.passes(params, (24, 24), channels=4)


def test_estimate_seconds_and_format():
    spec = REGISTRY["integrated_gradients"]
    assert estimate_seconds(spec, {"steps": 20}, (224, 224), 0.5) == pytest.approx(0.5 * spec.passes({"steps": 20}))
    assert format_seconds(0.2) == "< 1 s" and format_seconds(12.4) == "≈ 12 s" and format_seconds(600) == "≈ 10 min"


def test_relevance_rules():
    ig, sg, am = REGISTRY["integrated_gradients"], REGISTRY["smoothgrad"], REGISTRY["activation_maximization"]
    blur = ig.param("blur_sigma")
    assert not blur.is_relevant(ig.resolve()) and blur.is_relevant(ig.resolve({"baseline": "blur"}))
    assert sg.param("abs").is_relevant({"base": "saliency"})
    assert not sg.param("abs").is_relevant({"base": "guided_backprop"})
    scope = sg.param("relu_scope")
    assert [scope.is_relevant({"base": b}) for b in ("saliency", "input_x_gradient", "guided_backprop",
                                                     "deconvnet")] == [False, False, True, True]
    sigma = am.param("blur_sigma")
    assert sigma.is_relevant(am.resolve())
    assert not sigma.is_relevant(am.resolve({"blur_every": 0}))
    assert not sigma.is_relevant(am.resolve({"fourier": True}))
    assert not am.param("start").is_relevant({"fourier": True})
    assert blur.is_relevant({})  # values not given do not rule a parameter out
    assert blur.relevance_text() == "only when baseline = blur"


def test_param_defaults_and_validation():
    p = Param("blur_every", "int", 4, "help")  # positional use stays as before
    assert p.label == "Blur every" and not p.advanced and p.is_relevant({"anything": 1})
    with pytest.raises(ValueError):
        Param("x", "int", 1, "h", relevant_when=(("y", "equals", 1),))
    with pytest.raises(ValueError, match="cost"):
        register("never_registered", label="x", family="x", citation="x", cost="hours")
    with pytest.raises(ValueError, match="unknown parameter"):
        register("never_registered", label="x", family="x", citation="x",
                 params=(Param("a", "int", 1, "h", relevant_when={"b": 1}),))
    with pytest.raises(ValueError, match="output"):
        register("never_registered", label="x", family="x", citation="x", output="video")
    assert "never_registered" not in REGISTRY


def test_methods_json_has_the_new_fields(capsys):
    assert main(["methods", "--json"]) == 0
    data = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(data) == set(REGISTRY)
    for m in data.values():
        assert {"name", "label", "family", "citation", "needs_layer", "description", "summary", "cost", "output",
                "passes", "params"} <= set(m)
        for p in m["params"]:
            assert {"name", "kind", "default", "help", "min", "max", "choices", "label", "advanced",
                    "relevant_when"} <= set(p)
    ig = {p["name"]: p for p in data["integrated_gradients"]["params"]}
    assert ig["blur_sigma"]["relevant_when"] == [{"param": "baseline", "op": "in", "values": ["blur"]}]
    assert ig["quadrature"]["advanced"] and not ig["steps"]["advanced"]
    assert data["activation_maximization"]["output"] == "image"
    assert data["integrated_gradients"]["passes"] == 52


def test_methods_text_puts_the_description_first(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("gradcam "))
    assert lines[head + 1].strip() == REGISTRY["gradcam"].description
    assert any("--param quadrature" in line and "[advanced]" in line for line in lines)
    assert any("--param blur_sigma" in line and "only when baseline = blur" in line for line in lines)
