"""Our gradient methods against Captum's on the same models and inputs (random init, seeded)."""

import numpy as np
import pytest
import torch
from captum.attr import (Deconvolution, GuidedBackprop, InputXGradient, IntegratedGradients,
                         Saliency)

from core.methods import MethodContext, get_method
from core.targets import ClassTarget

MODELS = ["resnet18", "vgg11", "densenet121", "mobilenet_v3_small"]
TARGET = 7


def ours(bundle, x, method, **params):
    ctx = MethodContext(bundle, x, ClassTarget(TARGET))
    return get_method(method)(ctx, **params).attribution.detach()


def assert_agree(a, b):
    a, b = a.detach().flatten().double(), b.detach().flatten().double()
    if torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max())):
        return
    pearson = float(torch.corrcoef(torch.stack([a, b]))[0, 1])
    assert pearson >= 0.999, f"Pearson {pearson:.6f}, max abs diff {float((a - b).abs().max()):.3g}"


@pytest.mark.parametrize("name", MODELS)
def test_saliency_and_input_x_gradient(zoo, small_input, name):
    bundle = zoo(name)
    x = small_input
    expected = Saliency(bundle.net).attribute(x.clone().requires_grad_(), target=TARGET, abs=True)[0]
    assert_agree(ours(bundle, x, "saliency"), expected)
    expected = InputXGradient(bundle.net).attribute(x.clone().requires_grad_(), target=TARGET)[0]
    assert_agree(ours(bundle, x, "input_x_gradient"), expected)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("method,peer", [("guided_backprop", GuidedBackprop), ("deconvnet", Deconvolution)])
def test_relu_rule_methods(zoo, small_input, name, method, peer):
    bundle = zoo(name)
    x = small_input
    expected = peer(bundle.net).attribute(x.clone().requires_grad_(), target=TARGET)[0]
    # Captum swaps nn.ReLU modules only; densenet's functional F.relu stays ordinary there.
    got = ours(bundle, x, method, relu_scope="modules")
    assert_agree(got, expected)
    plain = ours(bundle, x, "saliency", abs=False)
    assert (got - plain).abs().max() > 1e-3 * plain.abs().max(), "the ReLU rule had no effect"


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("quad,peer_method", [("gausslegendre", "gausslegendre"),
                                              ("riemann_trapezoid", "riemann_trapezoid")])
def test_integrated_gradients(zoo, small_input, name, quad, peer_method):
    bundle = zoo(name)
    x = small_input
    expected = IntegratedGradients(bundle.net).attribute(
        x, baselines=torch.zeros_like(x), target=TARGET, n_steps=16, method=peer_method,
        internal_batch_size=8)[0]
    got = ours(bundle, x, "integrated_gradients", baseline="zeros", steps=16, quadrature=quad, batch_size=5)
    assert_agree(got, expected)


def test_integrated_gradients_completeness_resnet18(zoo):
    bundle = zoo("resnet18")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    ctx = MethodContext(bundle, x, ClassTarget(TARGET))
    out = get_method("integrated_gradients")(ctx, steps=64, baseline="black")
    delta = out.info["score_input"] - out.info["score_baseline"]
    assert abs(float(out.attribution.sum()) - delta) <= 0.01 * abs(delta)
    assert out.info["relative_completeness_error"] <= 0.01
    assert np.isclose(float(out.map.sum()), float(out.attribution.sum()), rtol=1e-4)
