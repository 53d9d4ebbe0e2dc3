"""Known answers for the gradient methods on analytic models, and their mechanics."""

import numpy as np
import pytest
import torch

from core.jobs import Cancelled, Progress
from core.methods import MethodContext, get_method
from core.methods.gradients import quadrature_rule, reduce_channels
from core.targets import ClassTarget

from toy_models import Linear, ReluReadout, bundle_of


def run(bundle, x, method, target=0, **params):
    return get_method(method)(MethodContext(bundle, x, ClassTarget(target)), **params)


@pytest.fixture
def readout_case():
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(1, 3, 8, 8, generator=gen)
    x = torch.randn(1, 3, 8, 8, generator=gen)
    return v, x


@pytest.mark.parametrize("kind", ["shared_inplace", "modules", "functional"])
def test_relu_rules_known_answers(readout_case, kind):
    v, x = readout_case
    bundle = bundle_of(ReluReadout(v, kind))
    gate = (x > 0).float()
    grad = run(bundle, x, "saliency", abs=False).attribution
    assert torch.allclose(grad, (v * gate)[0])
    guided = run(bundle, x, "guided_backprop").attribution
    assert torch.allclose(guided, (v.clamp(min=0) * gate)[0])
    deconv = run(bundle, x, "deconvnet").attribution
    assert torch.allclose(deconv, v.clamp(min=0)[0])


def test_functional_relu_needs_scope_all(readout_case):
    v, x = readout_case
    bundle = bundle_of(ReluReadout(v, "functional"))
    modules_only = run(bundle, x, "deconvnet", relu_scope="modules").attribution
    assert torch.allclose(modules_only, (v * (x > 0))[0]), "modules scope must leave F.relu alone"


def test_relu_override_is_undone(readout_case):
    v, x = readout_case
    net = ReluReadout(v, "shared_inplace")
    bundle = bundle_of(net)
    run(bundle, x, "guided_backprop", relu_scope="modules")
    assert "forward" not in net.relu.__dict__
    assert torch.allclose(run(bundle, x, "saliency", abs=False).attribution, (v * (x > 0))[0])


def test_linear_model_saliency_and_ig():
    net = Linear()
    bundle = bundle_of(net)
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    w = net.fc.weight[2].detach().view(3, 8, 8)
    sal = run(bundle, x, "saliency", target=2)
    assert torch.allclose(sal.attribution, w.abs())
    assert torch.allclose(torch.as_tensor(sal.map), w.abs().amax(0))
    for quad in ("riemann_right", "riemann_trapezoid", "gausslegendre"):
        ig = run(bundle, x, "integrated_gradients", target=2, baseline="zeros", steps=5, quadrature=quad)
        assert torch.allclose(ig.attribution, (x[0] * w), atol=1e-5)
        assert ig.info["relative_completeness_error"] < 1e-5
    ixg = run(bundle, x, "input_x_gradient", target=2)
    assert torch.allclose(ixg.attribution, x[0] * w)


def test_ig_black_baseline_is_pixel_zero():
    net = Linear()
    bundle = bundle_of(net)
    bundle.preprocess = bundle.preprocess.__class__(crop=(8, 8), resize=None, mean=(0.5,) * 3, std=(0.25,) * 3)
    x = torch.randn(1, 3, 8, 8)
    ig = run(bundle, x, "integrated_gradients", baseline="black", steps=4)
    w = net.fc.weight[0].detach().view(3, 8, 8)
    assert torch.allclose(ig.attribution, (x[0] - (-2.0)) * w, atol=1e-4)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_right", "riemann_middle"])
def test_quadrature_integrates_polynomials(method):
    nodes, weights = quadrature_rule(8, method)
    assert np.isclose(weights.sum(), 1.0)
    tol = 1e-10 if method == "gausslegendre" else 0.07
    assert abs((weights * nodes ** 3).sum() - 0.25) < tol


def test_smoothgrad_seeded_and_reduces_to_base_without_noise():
    v = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    bundle = bundle_of(ReluReadout(v, "modules"))
    x = torch.randn(1, 3, 8, 8)
    no_noise = run(bundle, x, "smoothgrad", noise=0.0, samples=3, base="guided_backprop")
    assert torch.allclose(no_noise.attribution, run(bundle, x, "guided_backprop").attribution)
    a = run(bundle, x, "smoothgrad", samples=16, batch_size=5).map
    b = run(bundle, x, "smoothgrad", samples=16, batch_size=16).map
    assert torch.allclose(a, b, atol=1e-6), "batching or seeding changed the result"
    c = get_method("smoothgrad")(MethodContext(bundle, x, ClassTarget(0), seed=9), samples=16).map
    assert not torch.allclose(a, c)


def test_smoothgrad_cancel():
    bundle = bundle_of(Linear())
    progress = Progress()
    seen = []

    def report(done, total, msg):
        seen.append(done)
        if done >= 4:
            progress.cancel()

    progress._callback = report
    ctx = MethodContext(bundle, torch.randn(1, 3, 8, 8), ClassTarget(0), progress=progress)
    with pytest.raises(Cancelled):
        get_method("smoothgrad")(ctx, samples=40, batch_size=2)
    assert seen[-1] < 40


def test_reduce_channels():
    attr = torch.tensor([[[1.0]], [[-3.0]], [[2.0]]])
    assert reduce_channels(attr, "max_abs").item() == 3
    assert reduce_channels(attr, "max_abs_signed").item() == -3
    assert reduce_channels(attr, "sum").item() == 0
    assert reduce_channels(attr, "sum_abs").item() == 6


class ViewsActivations(torch.nn.Module):
    """Flattens a conv output with .view(), which fails on a channels_last batch."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 8 * 8, 2)

    def forward(self, x):
        return self.fc(self.conv(x).view(x.shape[0], -1))


def test_batched_layout_falls_back_for_view_models():
    bundle = bundle_of(ViewsActivations())
    x = torch.randn(1, 3, 8, 8)
    out = run(bundle, x, "smoothgrad", samples=8, batch_size=8, noise=0.0, abs=False)
    expected = run(bundle, x, "saliency", abs=False).attribution
    assert torch.allclose(out.attribution, expected, atol=1e-6)
    assert bundle.channels_last_ok is False
