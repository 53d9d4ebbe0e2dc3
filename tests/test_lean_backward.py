"""The lean input-gradient twin: the same gradients bit for bit as the network it mirrors, far
fewer bytes kept for backward, the user's modules shared and untouched, refused where FX cannot
trace the model."""

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from core.methods import gradients as G
from core.methods.folded import gradient_forward
from core.methods.lean_backward import LeanConv2d, LeanMaxPool2d, LeanReLU, lean_twin
from core.models import load_model
from core.models.bundle import ModelBundle, _fuse
from core.targets import ClassTarget, UnitTarget


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Styles(nn.Module):
    """Every ReLU spelling FX records (module, in-place module, function, tensor method), a max-pool
    with ceil mode, a strided grouped conv, a dilated conv, a residual add and a linear head."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.r1 = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
        self.b = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4)
        self.c = nn.Conv2d(8, 8, 3, padding=2, dilation=2, bias=False)
        self.r2 = nn.ReLU()
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        h = self.pool(self.r1(self.a(x)))
        h = F.relu(self.b(h))
        h = self.r2(self.c(h)) + h.relu()
        h = torch.relu(h)
        return self.fc(h.mean((2, 3)))


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        h = self.conv(x)
        return h.mean((2, 3)) if h.sum() > 0 else -h.mean((2, 3))  # data-dependent: FX cannot trace it


class Remembers(nn.Module):
    """Stores its last feature map on itself, as some users' models do."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.last = None

    def forward(self, x):
        self.last = torch.relu(self.conv(x))
        return self.last.mean((2, 3))


def input_grad(net, x, target=3, channels_last=False):
    x = x.clone()
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(net(x)[:, target].sum(), x)
    return g


def bytes_kept(net, x, target=3):
    """Bytes of the distinct storages autograd keeps for backward (parameters, kept anyway, not
    counted)."""
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    kept = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            kept[storage.data_ptr()] = storage.nbytes()
        return t

    x = x.clone().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x)[:, target].sum()
    torch.autograd.grad(out, x)
    return sum(kept.values())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "vgg11"])
def test_same_gradients_bit_for_bit_on_zoo_models(name):
    twin = _fuse(getattr(torchvision.models, name)(weights=None).eval())
    lean = lean_twin(twin)
    assert lean is not None
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    for channels_last in (False, True):
        assert torch.equal(input_grad(lean, x, channels_last=channels_last),
                           input_grad(twin, x, channels_last=channels_last)), f"channels_last={channels_last}"


def test_every_relu_spelling_pool_and_conv_kind_is_swapped_and_exact():
    net = Styles().eval()
    lean = lean_twin(net)
    kinds = {type(m) for m in lean.modules()}
    assert {LeanConv2d, LeanReLU, LeanMaxPool2d} <= kinds and nn.Conv2d in kinds  # the wrapped originals
    code = lean.code
    assert "torch.relu" not in code and ".relu()" not in code and "torch.nn.functional.relu" not in code
    x = torch.randn(3, 3, 17, 19, generator=torch.Generator().manual_seed(1))
    assert torch.equal(input_grad(lean, x), input_grad(net, x))
    with torch.no_grad():
        assert torch.equal(lean(x), net(x))


def test_keeps_a_small_fraction_of_the_bytes():
    twin = _fuse(torchvision.models.resnet18(weights=None).eval())
    x = torch.randn(2, 3, 64, 64)
    plain, lean = bytes_kept(twin, x), bytes_kept(lean_twin(twin), x)
    assert lean < 0.3 * plain, (lean, plain)


def test_shares_the_modules_and_leaves_them_alone():
    net = Styles().eval()
    lean = lean_twin(net)
    assert {p.data_ptr() for p in lean.parameters()} == {p.data_ptr() for p in net.parameters()}, "no copies"
    assert lean_twin(net) is lean, "cached per network"
    input_grad(lean, torch.randn(1, 3, 16, 16))
    assert all(p.grad is None for p in net.parameters()), "no gradient reaches a parameter"
    assert isinstance(net.a, nn.Conv2d) and isinstance(net.r1, nn.ReLU), "the user's net is not rewritten"


def test_refused_where_it_cannot_help_or_trace():
    assert lean_twin(Branchy()) is None, "untraceable"
    assert lean_twin(nn.Sequential(nn.Flatten(), nn.Linear(12, 3))) is None, "nothing to make lean"
    assert lean_twin(torch.jit.script(Styles().eval())) is None, "TorchScript"


def test_gradient_passes_use_it_and_agree_with_the_plain_net():
    demo = load_model("demo")
    forward = gradient_forward(demo, ClassTarget(2), None)
    assert forward is not None
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    got = G.batch_gradients(demo, x, ClassTarget(2), batch_size=2)
    want = torch.stack([input_grad(demo.net, xi[None], target=2)[0] for xi in x])
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max()))
    assert gradient_forward(demo, UnitTarget("features.2", 0), None) is None


def test_a_model_without_batchnorm_gets_a_lean_twin_of_its_own_net():
    bundle = ModelBundle(Styles())
    forward = gradient_forward(bundle, ClassTarget(1), None)
    assert forward is not None
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(G.batch_gradients(bundle, x, ClassTarget(1), batch_size=2), input_grad(bundle.net, x, 1))


def test_tracing_the_users_own_net_leaves_no_proxy_behind():
    net = Remembers().eval()
    lean = lean_twin(net)
    assert lean is not None and net.last is None, "the trace's proxy must not stay on the user's module"
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    assert torch.equal(input_grad(lean, x, target=1), input_grad(net, x, target=1))


def test_a_second_derivative_is_refused_not_wrong():
    lean = lean_twin(Styles().eval())
    x = torch.randn(1, 3, 12, 12, requires_grad=True)
    (g,) = torch.autograd.grad(lean(x)[:, 0].sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(g.sum(), x)
