"""Incremental occlusion (Krypton, Nakandala et al. 2019): the same maps as the plain path on
ResNet, VGG-style and MobileNet-style models, less recomputed work, and a plain fallback that
says why."""

import pytest
import torch
import torchvision
from torch import nn

from core.methods import MethodContext, get_method
from core.methods import incremental
from core.methods.incremental import IncrementalOcclusion, Unsupported
from core.models import ModelBundle, Preprocess
from core.targets import ClassTarget


def _randomise_bn(net: nn.Module, size: int = 64) -> nn.Module:
    """Random BatchNorm affines, running statistics measured on noise (so activations neither vanish
    nor explode through a random-init network), and a unit-scale classifier; eval mode."""
    gen = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batch
        elif isinstance(m, nn.Linear):  # torchvision's tiny classifier init leaves maps near 0
            m.weight.data.normal_(0, 1, generator=gen)
    with torch.no_grad():
        net.train()(torch.randn(8, 3, size, size, generator=gen))
    return net.eval()


def vgg_chain() -> nn.Module:
    layers, c = [], 3
    for o in (16, "M", 32, "M", 64, 64, "A"):
        if o == "M":
            layers.append(nn.MaxPool2d(2))
        elif o == "A":
            layers.append(nn.AvgPool2d(3, 2, padding=1))
        else:
            layers += [nn.Conv2d(c, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]
            c = o
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))


class EarlyGlobal(nn.Module):
    """A channel gate from the whole map right after the first convolution (squeeze-excitation),
    then more convolutions: every one of them sees a changed map everywhere."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.body = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        y = self.conv(x)
        y = self.body(y * torch.sigmoid(y.mean((2, 3), keepdim=True)))
        return self.head(y.mean((2, 3)))


class Branchy(nn.Module):
    """Control flow on the data: cannot be traced."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y.mean((2, 3)) if y.sum() > 0 else -y.mean((2, 3))


MODELS = {
    "resnet18": lambda: torchvision.models.resnet18(weights=None, num_classes=10),
    "vgg_chain": vgg_chain,
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2(weights=None, num_classes=10, width_mult=0.35),
}


def bundle_of(net: nn.Module, size: int = 64, dtype=torch.float32) -> ModelBundle:
    torch.manual_seed(0)
    net = _randomise_bn(net, size).to(dtype)
    return ModelBundle(net, preprocess=Preprocess(crop=(size, size), resize=None))


def occlude(bundle, x, mode, **params):
    ctx = MethodContext(bundle, x, ClassTarget(3))
    values = dict(window=16, stride=8, fill="mean", batch_size=5, incremental=mode) | params
    return get_method("occlusion")(ctx, **values)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_incremental_maps_equal_plain(name, monkeypatch):
    # at 64 px ResNet-18's rectangles cover the map by layer1, so little is saved: allow it anyway
    monkeypatch.setattr(incremental, "MAX_WORK", 1.0)
    torch.manual_seed(0)
    net = MODELS[name]()
    # float64: the plain path's own float32 rounding differs by ~3e-5 of the map between batch
    # sizes on MobileNet-v2; in float64 any difference beyond 1e-5 is a real error
    bundle = bundle_of(net, dtype=torch.float64)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    # 12 px steps: patches sit at every phase of the stride-2 layers
    fast, plain = (occlude(bundle, x, mode, stride=12, batch_size=13) for mode in ("auto", "off"))
    assert fast.info["path"] == "incremental", fast.info
    assert plain.info["path"] == "plain" and "off" in plain.info["path_reason"]
    scale = float(plain.map.abs().max())
    assert scale > 0
    torch.testing.assert_close(fast.map, plain.map, atol=1e-5 * scale, rtol=0)


def test_windows_overhanging_the_edge_and_odd_sizes():
    """A 50×50 image: windows of 12 px every 7 px overhang the right and bottom edges."""
    bundle = bundle_of(vgg_chain(), 50)
    x = torch.randn(1, 3, 50, 50, generator=torch.Generator().manual_seed(3))
    fast, plain = (occlude(bundle, x, m, window=12, stride=7, fill="zeros", batch_size=4) for m in ("auto", "off"))
    assert fast.info["path"] == "incremental"
    torch.testing.assert_close(fast.map, plain.map, atol=1e-5 * float(plain.map.abs().max()), rtol=0)


@pytest.mark.parametrize("net,reason", [(EarlyGlobal(), "mixes the whole map"),
                                        (Branchy(), "cannot be traced")])
def test_unsupported_models_fall_back_and_say_why(net, reason):
    bundle = ModelBundle(net, preprocess=Preprocess(crop=(32, 32), resize=None))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with pytest.raises(Unsupported, match=reason):
        IncrementalOcclusion(bundle, x, ClassTarget(1), 8)
    out = occlude(bundle, x, "auto", window=8, stride=8)
    off = occlude(bundle, x, "off", window=8, stride=8)
    assert out.info["path"] == "plain" and reason in out.info["path_reason"]
    torch.testing.assert_close(out.map, off.map)


def test_work_saved_is_counted():
    """Per patch, the VGG chain recomputes a fraction of each map and of the convolution work;
    ResNet-18 at 128 px with an 8 px patch saves some."""
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    engine = IncrementalOcclusion(bundle_of(vgg_chain()), x, ClassTarget(0), 16)
    done, full = engine.count.pixels["_0"]  # the first convolution: the patch plus its 1-px halo
    assert (done, full) == (18 * 18, 64 * 64)
    assert engine.count.mac_fraction < 0.6
    assert all(d <= f for d, f in engine.count.pixels.values())
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    res = IncrementalOcclusion(bundle_of(MODELS["resnet18"]()), x, ClassTarget(0), 8, max_work=1.0)
    assert res.count.macs["conv1"] == (7 * 7 * 64 * 3 * 49, 64 * 64 * 64 * 3 * 49)
    assert res.count.mac_fraction < 0.9
    assert res.count.first_full.startswith("layer")
