"""Guided backprop / deconvnet on models whose ReLUs are in-place functional calls whose
return value is ignored (``y.relu_()``, ``torch.relu_(z)``, ``F.relu(z, inplace=True)``):
the override must keep the forward pass (the argument is rectified in place) and change
only the backward rule (Springenberg et al. 2015; Zeiler & Fergus 2014)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.methods.relu_override import relu_rule


class _RefReLU(torch.autograd.Function):
    """Hand-written reference: out-of-place ReLU with the guided / deconvnet backward."""

    @staticmethod
    def forward(ctx, x, gate):
        y = torch.where(x > 0, x, torch.zeros_like(x))
        ctx.gate = gate
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        g = torch.where(g > 0, g, torch.zeros_like(g))
        if ctx.gate:
            g = torch.where(y > 0, g, torch.zeros_like(g))
        return g, None


class InplaceNet(nn.Module):
    """conv → ReLU (four in-place spellings, results ignored) → linear. With ``ref`` set, the
    same network with ``_RefReLU`` applied explicitly (out of place) at the same places."""

    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.convs = nn.ModuleList(nn.Conv2d(c, 5, 3, padding=1) for c in (3, 5, 5, 5))
        self.fc = nn.Linear(5 * 6 * 6, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.4 * torch.randn(p.shape, generator=gen))
        self.ref = None

    def forward(self, x):
        h = self.convs[0](x)
        if self.ref is None:
            h.relu_()
        else:
            h = _RefReLU.apply(h, self.ref)
        h = self.convs[1](h)
        if self.ref is None:
            torch.relu_(h)
        else:
            h = _RefReLU.apply(h, self.ref)
        h = self.convs[2](h)
        if self.ref is None:
            F.relu(h, inplace=True)
        else:
            h = _RefReLU.apply(h, self.ref)
        h = self.convs[3](h)
        if self.ref is None:
            F.relu(h, True)
        else:
            h = _RefReLU.apply(h, self.ref)
        return self.fc(h.flatten(1))


@pytest.fixture
def case():
    net = InplaceNet().eval()
    x = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    return net, x


def _grad(net, x, target=1):
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(net(x)[:, target].sum(), x)
    return g


def test_forward_unchanged_inside_override(case):
    net, x = case
    with torch.no_grad():
        plain = net(x)
    for rule in ("guided", "deconvnet"):
        with relu_rule(net, rule, "all"), torch.no_grad():
            assert torch.equal(net(x), plain)
        with relu_rule(net, rule, "all"):
            assert torch.equal(net(x.clone().requires_grad_(True)), plain)


@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_inplace_functional_relus_match_reference(case, rule):
    net, x = case
    net.ref = rule == "guided"
    reference = _grad(net, x)
    net.ref = None
    true_grad = _grad(net, x)
    assert not torch.allclose(reference, true_grad, atol=1e-4)  # the rule matters here
    with relu_rule(net, rule, "all") as mode:
        got = _grad(net, x)
    assert mode.calls == 4
    torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-6)
    # outside the context the ordinary gradient is back
    torch.testing.assert_close(_grad(net, x), true_grad, rtol=0, atol=0)


def test_inplace_spellings_return_their_argument():
    for call in (lambda t: t.relu_(), torch.relu_, lambda t: F.relu(t, inplace=True)):
        leaf = torch.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
        with relu_rule(nn.Identity(), "guided", "all"):
            h = leaf * 1.0
            out = call(h)
            assert out is h and torch.equal(h, torch.tensor([0.0, 2.0, 0.0, 4.0]))
            (g,) = torch.autograd.grad((h * torch.tensor([1.0, -1.0, 1.0, 3.0])).sum(), leaf)
        assert torch.equal(g, torch.tensor([0.0, 0.0, 0.0, 3.0]))  # max(g,0)·[y>0]


class ModuleNet(nn.Module):
    """The same shape with ``nn.ReLU(inplace=True)`` modules (one reused) and a ``ref`` switch."""

    def __init__(self):
        super().__init__()
        self.inner = InplaceNet()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        inner, h = self.inner, self.inner.convs[0](x)
        for conv in inner.convs[1:]:
            h = self.relu(h) if inner.ref is None else _RefReLU.apply(h, inner.ref)
            h = conv(h)
        h = self.relu(h) if inner.ref is None else _RefReLU.apply(h, inner.ref)
        return inner.fc(h.flatten(1))


@pytest.mark.parametrize("scope", ["all", "modules"])
@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_inplace_relu_modules_still_work(case, rule, scope):
    _, x = case
    net = ModuleNet().eval()
    with torch.no_grad():
        plain = net(x)
    net.inner.ref = rule == "guided"
    reference = _grad(net, x)
    net.inner.ref = None
    with relu_rule(net, rule, scope):
        with torch.no_grad():
            assert torch.equal(net(x), plain)
        got = _grad(net, x)
    torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-6)


def test_modules_scope_leaves_functional_relus_alone(case):
    net, x = case
    with torch.no_grad():
        plain = net(x)
    true_grad = _grad(net, x)
    with relu_rule(net, "guided", "modules"):
        with torch.no_grad():
            assert torch.equal(net(x), plain)
        torch.testing.assert_close(_grad(net, x), true_grad, rtol=0, atol=0)
