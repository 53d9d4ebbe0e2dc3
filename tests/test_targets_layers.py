"""Targets and the layer tree."""

import pytest
import torch

from core.layers import default_layer, layer_table
from core.targets import ClassTarget, UnitTarget, parse_unit


def test_class_target_kinds():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    assert ClassTarget(1).score(logits, {}).item() == 2.0
    p = torch.softmax(logits, 1)[0, 1]
    assert torch.isclose(ClassTarget(1, "probability").score(logits, {})[0], p)
    assert torch.isclose(ClassTarget(1, "log_probability").score(logits, {})[0], p.log())
    with pytest.raises(ValueError, match="out of range"):
        ClassTarget(5).score(logits, {})
    with pytest.raises(ValueError):
        ClassTarget(0, "odds")


def test_unit_target_reductions():
    act = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    acts = {"L": act}
    assert torch.equal(UnitTarget("L", 1).score(None, acts), act[:, 1].mean((1, 2)))
    assert torch.equal(UnitTarget("L", 1, "max").score(None, acts), act[:, 1].amax((1, 2)))
    assert torch.equal(UnitTarget("L", 2, "position", (1, 0)).score(None, acts), act[:, 2, 1, 0])
    tokens = torch.randn(2, 5, 4)
    assert torch.equal(UnitTarget("T", 3, "position", (2,)).score(None, {"T": tokens}), tokens[:, 2, 3])
    with pytest.raises(ValueError, match="out of range"):
        UnitTarget("L", 7).score(None, acts)


def test_parse_unit():
    assert parse_unit("layer4.1:12") == UnitTarget("layer4.1", 12, "mean")
    assert parse_unit("features.3:0@4,5") == UnitTarget("features.3", 0, "position", (4, 5))
    for bad in ("layer4", "layer4:x", ":3", "l:1@a,b"):
        with pytest.raises(ValueError):
            parse_unit(bad)


@pytest.mark.parametrize("name,expected", [
    ("resnet18", "layer4"), ("vgg11", "features"), ("densenet121", "features"),
    ("mobilenet_v3_small", "features"), ("squeezenet1_1", "features"),
    ("vit_b_16", "encoder.layers.encoder_layer_11.ln_1"),
])
def test_default_layer(zoo, name, expected):
    assert default_layer(zoo(name)) == expected


def test_layer_table(zoo):
    table = {info.name: info for info in layer_table(zoo("resnet18"))}
    assert table["layer4"].shape == (1, 512, 7, 7) and table["layer4"].spatial
    assert table["fc"].shape == (1, 1000) and table["fc"].leaf and not table["fc"].spatial
    assert table["layer1.0.conv1"].type == "Conv2d" and table["layer1.0.conv1"].depth == 2
    assert table["layer4"].order > table["layer4.1"].order > table["layer4.1.conv2"].order
    assert sum(len(m._forward_hooks) for m in zoo("resnet18").net.modules()) == 0
