"""Single-pass capture: several layers at once, in-place safety, hooks removed, caching."""

import pytest
import torch
from torch import nn

from core.capture import CaptureCache, LayerError, capture
from core.targets import ClassTarget, UnitTarget

LAYERS = ["layer1.0.bn1", "layer2", "layer3.1.conv2", "layer4"]


def hook_count(net):
    return sum(len(m._forward_hooks) for m in net.modules())


def test_multi_layer_capture_equals_separate(zoo, small_input):
    bundle = zoo("resnet18")
    target = ClassTarget(3)
    together = capture(bundle, small_input, target, LAYERS, input_grad=True)
    for name in LAYERS:
        alone = capture(bundle, small_input, target, [name])
        assert torch.equal(together.activations[name], alone.activations[name])
        assert torch.allclose(together.gradients[name], alone.gradients[name], rtol=1e-5, atol=1e-8)
        assert together.gradients[name].abs().sum() > 0
    assert hook_count(bundle.net) == 0
    plain = bundle.net(small_input)
    assert torch.allclose(together.logits, plain, atol=1e-5)


def test_inplace_relu_does_not_corrupt_activation(zoo, small_input):
    bundle = zoo("resnet18")
    cap = capture(bundle, small_input, ClassTarget(0), ["layer1.0.bn1"])
    act = cap.activations["layer1.0.bn1"]
    assert (act < 0).any(), "bn1's output was overwritten by the in-place ReLU after it"
    net = bundle.net
    with torch.no_grad():
        expected = net.layer1[0].bn1(net.layer1[0].conv1(net.maxpool(net.relu(net.bn1(net.conv1(small_input))))))
    assert torch.allclose(act, expected, atol=1e-5)


def test_gradient_matches_manual_autograd(zoo, small_input):
    bundle = zoo("resnet18")
    feats = {}
    h = bundle.net.layer3.register_forward_hook(lambda m, i, o: feats.setdefault("a", o))
    logits = bundle.net(small_input)
    (g,) = torch.autograd.grad(logits[0, 5], feats["a"])
    h.remove()
    cap = capture(bundle, small_input, ClassTarget(5), ["layer3"])
    assert torch.allclose(cap.gradients["layer3"], g, atol=1e-7)


class Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        self.conv(x)
        raise RuntimeError("boom inside forward")


def test_hooks_removed_after_exception():
    from core.models import ModelBundle

    bundle = ModelBundle(Exploding())
    with pytest.raises(RuntimeError, match="boom"):
        capture(bundle, torch.randn(1, 3, 8, 8), ClassTarget(0), ["conv"])
    assert hook_count(bundle.net) == 0


def test_unknown_layer_is_a_clear_error(zoo, small_input):
    bundle = zoo("resnet18")
    with pytest.raises(LayerError, match="no layer named 'layer9'"):
        capture(bundle, small_input, ClassTarget(0), ["layer9"])
    assert hook_count(bundle.net) == 0


def test_unit_target_gradient(zoo, small_input):
    bundle = zoo("resnet18")
    target = UnitTarget("layer2", channel=3, reduce="mean")
    cap = capture(bundle, small_input, target, ["layer1"], input_grad=True)
    expected = cap.activations.get("layer2")
    assert expected is None  # only requested layers are kept
    one = capture(bundle, small_input, UnitTarget("layer2", 3, "position", (2, 2)), ["layer1"])
    # A single position has a local receptive field: the gradient at layer1 is spatially sparse.
    assert 0 < int((one.gradients["layer1"][0].abs().sum(0) > 0).sum()) < 16 * 16
    assert cap.input_grad.abs().sum() > 0


def test_cache_hits_and_union(zoo, small_input):
    bundle = zoo("resnet18")
    cache = CaptureCache()
    t = ClassTarget(1)
    a = cache.get(bundle, small_input, t, ["layer4"])
    assert cache.passes == 1
    b = cache.get(bundle, small_input.clone(), t, ["layer4"])  # equal content: a hit
    assert b is a and cache.passes == 1
    c = cache.get(bundle, small_input, t, ["layer3"])  # new layer: one pass over the union
    assert cache.passes == 2 and {"layer3", "layer4"} <= set(c.activations)
    cache.get(bundle, small_input, t, ["layer4", "layer3"])
    cache.get(bundle, small_input, t, [], input_grad=True)
    assert cache.passes == 3
    cache.get(bundle, small_input, t, ["layer3"])
    assert cache.passes == 3
    cache.get(bundle, small_input, ClassTarget(2), ["layer3"])
    assert cache.passes == 4


def test_cache_sees_in_place_changes(zoo, small_input):
    bundle = zoo("resnet18")
    cache = CaptureCache()
    x = small_input.clone()
    first = cache.get(bundle, x, ClassTarget(1), ["layer4"])
    x.mul_(2.0)
    second = cache.get(bundle, x, ClassTarget(1), ["layer4"])
    assert cache.passes == 2 and not torch.equal(first.activations["layer4"], second.activations["layer4"])
