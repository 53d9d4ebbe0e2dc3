"""Gradients through the BatchNorm-folded twin, and sums accumulated batch by batch: the same
answers as the plain network and stored gradients (demo model, tiny inputs)."""

import numpy as np
import pytest
import torch
from torch import nn

from core.methods import MethodContext, get_method
from core.methods import gradients as G
from core.methods.folded import folded_twin, gradient_forward
from core.models import load_model
from core.targets import ClassTarget, UnitTarget

from toy_models import Linear, bundle_of

TARGET = 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


@pytest.fixture
def x():
    return torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))


def plain_gradients(bundle, xs, target=TARGET):
    """∂logit/∂x on the user's own network, one input at a time: the reference."""
    out = []
    for xi in xs:
        xi = xi[None].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(bundle.net(xi)[:, target].sum(), xi)
        out.append(g[0])
    return torch.stack(out)


def bn_calls(bundle):
    """Counter of forward calls of the user's BatchNorm modules."""
    count = [0]
    for m in bundle.net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.register_forward_hook(lambda *a: count.__setitem__(0, count[0] + 1))
    return count


def close(a, b):
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


def test_folded_gradients_equal_plain(demo):
    xs = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    got = G.batch_gradients(demo, xs, ClassTarget(TARGET), batch_size=4)
    assert close(got, plain_gradients(demo, xs))


def test_folded_path_runs_no_batchnorm_and_leaves_the_net_alone(x):
    bundle = load_model("demo")
    count = bn_calls(bundle)
    G.batch_gradients(bundle, x.repeat(3, 1, 1, 1), ClassTarget(TARGET), batch_size=2)
    assert count[0] == 0, "true gradients should run on the folded twin"
    assert all(p.requires_grad for p in bundle.net.parameters()), "the user's parameters stay as they were"
    G.batch_gradients(bundle, x, ClassTarget(TARGET), rule="guided", batch_size=1)
    assert count[0] == sum(isinstance(m, nn.BatchNorm2d) for m in bundle.net.modules()), \
        "a ReLU rule must patch and run the user's own modules"


def test_twin_refused_where_the_net_must_run(demo):
    assert gradient_forward(demo, ClassTarget(TARGET), None) is not None
    assert gradient_forward(demo, ClassTarget(TARGET), "deconvnet") is None
    assert gradient_forward(demo, UnitTarget("features.2", 0), None) is None, "hooked targets need the net"
    assert folded_twin(bundle_of(Linear())) is None, "no BatchNorm: nothing to fold"
    mutating = load_model("demo")
    mutating.mutates_buffers = True
    assert folded_twin(mutating) is None
    assert folded_twin(demo) is folded_twin(demo), "one twin per bundle, shared with fast_logits"


def test_unit_target_gradient_still_hooks_the_net(demo, x):
    """A unit inside the net is read through a hook: its gradient comes from the plain net."""
    target = UnitTarget("features.2", 5)
    got = G.batch_gradients(demo, x, target, batch_size=1)
    xi = x.clone().requires_grad_(True)
    act = {}
    handle = demo.net.features[2].register_forward_hook(lambda m, i, o: act.setdefault("a", o.clone()))
    demo.net(xi)
    handle.remove()
    (want,) = torch.autograd.grad(act["a"][:, 5].mean(), xi)
    assert close(got, want)


@pytest.mark.parametrize("quadrature", ["gausslegendre", "riemann_trapezoid", "riemann_middle"])
def test_ig_accumulated_equals_stored_gradients(demo, x, quadrature):
    steps = 7
    ref = G.make_baseline(demo, x, "black")
    alphas, weights = G.quadrature_rule(steps, quadrature)
    path = ref + torch.as_tensor(alphas, dtype=x.dtype).view(-1, 1, 1, 1) * (x - ref)
    grads = plain_gradients(demo, path)
    want = (x - ref)[0] * (grads * torch.as_tensor(weights, dtype=x.dtype).view(-1, 1, 1, 1)).sum(0)
    for bs in (1, 3, steps):
        ig = get_method("integrated_gradients")(MethodContext(demo, x, ClassTarget(TARGET)), baseline="black",
                                                steps=steps, quadrature=quadrature, batch_size=bs)
        assert close(ig.attribution, want), f"batch {bs}"


def test_ig_completeness_on_demo_model(demo, x):
    ig = get_method("integrated_gradients")(MethodContext(demo, x, ClassTarget(TARGET)), baseline="black",
                                            steps=64, batch_size=16)
    with torch.inference_mode():
        f_x = float(demo.net(x)[0, TARGET])
        f_ref = float(demo.net(G.make_baseline(demo, x, "black"))[0, TARGET])
    assert ig.info["score_input"] == pytest.approx(f_x, rel=1e-4, abs=1e-4)
    assert ig.info["score_baseline"] == pytest.approx(f_ref, rel=1e-4, abs=1e-4)
    assert float(ig.attribution.sum()) == pytest.approx(f_x - f_ref, rel=2e-2)
    assert ig.info["relative_completeness_error"] < 2e-2


@pytest.mark.parametrize("base,squared", [("saliency", False), ("input_x_gradient", True)])
def test_smoothgrad_accumulated_equals_stored(demo, x, base, squared):
    samples, noise = 5, 0.1
    ctx = MethodContext(demo, x, ClassTarget(TARGET))
    out = get_method("smoothgrad")(ctx, base=base, samples=samples, noise=noise, squared=squared, batch_size=2)
    sigma = noise * float(x.max() - x.min())
    gen = torch.Generator().manual_seed(ctx.seed)
    noisy = x + sigma * torch.randn((samples,) + tuple(x.shape[1:]), generator=gen)
    g = plain_gradients(demo, noisy)
    g = g.abs() if base == "saliency" else g * noisy
    want = (g.square() if squared else g).mean(0)
    assert close(out.attribution, want)


def test_gradient_sum_weights_and_scores(demo):
    xs = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    w = torch.tensor([0.5, -1.0, 2.0, 0.0, 3.0])
    scores = torch.empty(5)
    total = G.gradient_sum(demo, 5, lambda a, b: xs[a:b], ClassTarget(TARGET), weights=w, batch_size=2,
                           scores=scores, sample_shape=xs.shape[1:])
    assert close(total, (plain_gradients(demo, xs) * w.view(-1, 1, 1, 1)).sum(0))
    with torch.inference_mode():
        assert np.allclose(scores.numpy(), demo.net(xs)[:, TARGET].numpy(), rtol=1e-4, atol=1e-4)


def test_a_twin_first_built_for_inference_serves_a_gradient_pass():
    """fast_logits builds the twin under inference mode; a later gradient pass through the same
    cached twin must still work (inference tensors cannot be saved for backward)."""
    from core.methods.folded import gradient_forward
    from core.models import load_model
    from core.targets import ClassTarget

    bundle = load_model("demo")
    x = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        bundle.fast_logits(x)
    forward = gradient_forward(bundle, ClassTarget(0), None)
    assert forward is not None
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(forward(xg)[:, 0].sum(), xg)
    assert g.shape == x.shape and torch.isfinite(g).all() and g.abs().sum() > 0
