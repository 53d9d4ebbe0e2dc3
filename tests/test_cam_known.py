"""CAM family: known answers on a toy model, one pass for every variant and layer, ViT/Swin."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from core.capture import LayerError
from core.explain import Explainer
from core.methods import REGISTRY, MethodContext, get_method
from core.units import class_units
from core.models import ModelBundle, Preprocess
from core.targets import ClassTarget

CAM_METHODS = [n for n, s in REGISTRY.items() if s.family == "cam" and n != "gradcam_counterfactual"]


class Spot(nn.Module):
    """Evidence for class 0 lives in a bright square; conv features → GAP → linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.features[0].weight.zero_()
            self.features[0].bias.copy_(torch.tensor([-0.5, -0.5, 0.1, 0.1]))
            self.features[0].weight[0, 0, 1, 1] = 1.0   # bright-pixel detectors
            self.features[0].weight[1, 0, 1, 1] = 2.0
            self.features[0].weight[2, 0, 1, 1] = -0.05  # weak background channels
            self.features[0].weight[3, 0, 1, 1] = -0.02
            self.fc.weight.copy_(torch.tensor([[3.0, 2.0, -0.5, 0.2], [-1.0, -1.0, 1.0, 1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


@pytest.fixture
def spot():
    pre = Preprocess(crop=(16, 16), resize=None, mean=(0.0,), std=(1.0,), channels=1)
    bundle = ModelBundle(Spot(), preprocess=pre, labels=["spot", "background"])
    x = torch.zeros(1, 1, 16, 16)
    x[..., 10:13, 3:6] = 1.0
    return bundle, x


@pytest.mark.parametrize("method", CAM_METHODS)
def test_each_cam_peaks_on_the_evidence(spot, method):
    bundle, x = spot
    ctx = MethodContext(bundle, x, ClassTarget(0), layer="features")
    out = get_method(method)(ctx)
    m = torch.as_tensor(out.map)
    assert m.shape == (16, 16)
    y, xx = divmod(int(m.argmax()), 16)
    assert 10 <= y <= 12 and 3 <= xx <= 5, (method, y, xx)


def test_cam_exact_values(spot):
    bundle, x = spot
    out = get_method("cam")(MethodContext(bundle, x, ClassTarget(0), layer="features"))
    act = bundle.net.features(x)[0]
    expected = (bundle.net.fc.weight[0][:, None, None] * act).sum(0)
    assert torch.allclose(out.low_res, expected.detach())
    # CAM and Grad-CAM differ only by the 1/(h·w) of the average pool for GAP + linear models.
    grad = get_method("gradcam")(MethodContext(bundle, x, ClassTarget(0), layer="features"), relu=False)
    assert torch.allclose(grad.low_res * 256, out.low_res, atol=1e-5)


def test_counterfactual_points_elsewhere(spot):
    bundle, x = spot
    out = get_method("gradcam_counterfactual")(MethodContext(bundle, x, ClassTarget(0), layer="features"))
    m = torch.as_tensor(out.map)
    assert m[10:13, 3:6].max() == 0 and m.max() > 0


def test_cam_refused_where_it_does_not_apply(zoo, small_input):
    for name in ("vgg11", "squeezenet1_1"):
        bundle = zoo(name)
        with pytest.raises(LayerError, match="Grad-CAM"):
            get_method("cam")(MethodContext(bundle, small_input, ClassTarget(0), layer="features"))
    bundle = zoo("resnet18")
    with pytest.raises(LayerError, match="does not apply"):
        get_method("cam")(MethodContext(bundle, small_input, ClassTarget(0), layer="layer4.0"))


def count_forwards(net):
    calls = []
    handle = net.register_forward_pre_hook(lambda m, i: calls.append(1))
    return calls, handle


def test_one_pass_serves_every_gradient_cam_at_every_layer(zoo, rgb_image):
    bundle = zoo("resnet18")
    explainer = Explainer(bundle, rgb_image, prefetch=True)
    calls, handle = count_forwards(bundle.net)
    try:
        explainer.explain("gradcam", layer="layer4")
        first = len(calls)  # the capture, plus the one-off dry run that lists the layers
        assert first <= 2 and explainer.cache.passes == 1
        for layer in ("layer3", "layer2", "layer4.1", "layer1"):
            for method in ("gradcam", "gradcam_pp", "xgradcam", "layercam", "eigencam", "cam",
                           "gradcam_counterfactual"):
                if method == "cam" and layer != "layer4":
                    continue
                explainer.explain(method, layer=layer)
        assert len(calls) == first and explainer.cache.passes == 1
    finally:
        handle.remove()
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in bundle.net.modules()) == 0


def test_without_prefetch_backward_stops_at_the_layer(zoo, small_input):
    bundle = zoo("resnet18")
    conv1_grads = []
    handle = bundle.net.conv1.weight.register_hook(lambda g: conv1_grads.append(g))
    try:
        get_method("gradcam")(MethodContext(bundle, small_input, ClassTarget(0), layer="layer4"))
    finally:
        handle.remove()
    assert conv1_grads == []


@pytest.mark.parametrize("name,grid", [("vit_b_16", 14), ("swin_t", 7)])
def test_transformers(zoo, name, grid):
    bundle = copy.deepcopy(zoo(name))
    head = bundle.net.heads.head if name.startswith("vit") else bundle.net.head
    with torch.no_grad():  # torchvision initialises the ViT head to zeros: no gradient at all
        head.weight.normal_(0, 0.02, generator=torch.Generator().manual_seed(0))
    explainer = Explainer(bundle, np.full((224, 224, 3), 127, np.uint8) + np.random.default_rng(0).integers(
        0, 100, (224, 224, 3), dtype=np.uint8))
    for method in ("gradcam", "layercam", "eigencam"):
        out = explainer.explain(method, params={"relu": False})
        assert out.low_res.shape == (grid, grid) and out.map.shape == (224, 224)
        assert np.isfinite(out.map).all() and np.abs(out.map).max() > 0


def test_class_units(spot):
    bundle, x = spot
    units = class_units(bundle, x, 0, "features", top=4)
    assert units[0]["ranking"] == "cam"
    # contribution = weight × mean activation: channel 1 (2 × 1.5·9/256) before channel 0 (3 × 0.5·9/256)
    assert [u["channel"] for u in units][:2] == [1, 0]
    assert units[0]["map"].shape == (16, 16)
    logit = bundle(x)[0, 0].item()
    assert abs(sum(u["contribution"] for u in units) - logit) < 1e-5


def test_scorecam_dead_channels_share_one_forward(spot):
    bundle, x = spot
    x = x.clone()
    x[..., 10:13, 3:6] = 0.2  # channels 0 and 1 (bias −0.5) stay at zero everywhere: constant
    ctx = MethodContext(bundle, x, ClassTarget(0), layer="features")
    out = get_method("scorecam")(ctx)
    assert out.info["forward_passes"] == 3  # two live channels + one shared all-zero input
    # Same weights as scoring every channel one by one.
    act = bundle.net.features(x)[0].detach()
    probs = []
    for k in range(4):
        m = torch.nn.functional.interpolate(act[None, None, k], size=(16, 16), mode="bilinear")[0, 0]
        m = (m - m.min()) / (m.max() - m.min() + 1e-8)
        probs.append(torch.softmax(bundle(x * m), 1)[0, 0])
    expected = torch.relu((torch.stack(probs)[:, None, None] * act).sum(0))
    assert torch.allclose(out.low_res, expected.detach(), atol=1e-6)
