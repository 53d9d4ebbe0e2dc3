"""CAM family against pytorch-grad-cam and Captum on the same models and inputs (random init)."""

import copy

import numpy as np
import pytest
import torch
from captum.attr import GuidedGradCam, LayerGradCam
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection

from core.capture import CaptureCache, capture, get_layer
from core.layers import default_layer
from core.methods import MethodContext, get_method
from core.methods.cam import principal_projection
from core.targets import ClassTarget

MODELS = ["resnet18", "densenet121", "vgg11", "mobilenet_v3_small"]
TARGET = 7


@pytest.fixture(scope="module")
def models(zoo):
    """The zoo models; MobileNetV3's random-init head gives gradients of ~1e-11 at `features`,
    where float32 rounding alone separates Grad-CAM++ implementations: its two linear layers
    are scaled ×100 here (a copy), which changes no map's shape, only its scale."""
    cache = {}

    def get(name):
        if name not in cache:
            bundle = zoo(name)
            if name == "mobilenet_v3_small":
                bundle = copy.deepcopy(bundle)
                with torch.no_grad():
                    for m in bundle.net.classifier:
                        if isinstance(m, torch.nn.Linear):
                            m.weight.mul_(100.0)
            cache[name] = bundle
        return cache[name]

    return get


def x_of(size=96, seed=1):
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def ours(bundle, x, method, layer, **params):
    ctx = MethodContext(bundle, x, ClassTarget(TARGET), layer=layer, cache=CaptureCache())
    return get_method(method)(ctx, **params)


def pearson(a, b):
    a = torch.as_tensor(np.asarray(a, dtype=np.float64)).flatten()
    b = torch.as_tensor(np.asarray(b, dtype=np.float64)).flatten()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def peer_layer(bundle, name):
    # DenseNet's forward applies an in-place F.relu to `features`, which corrupts what a hook
    # without a clone stores (pytorch-grad-cam); compare there at the block before norm5.
    return "features.denseblock4" if name == "densenet121" else default_layer(bundle)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("method,peer,params", [
    ("gradcam", GradCAM, {}), ("xgradcam", XGradCAM, {}), ("layercam", LayerCAM, {}),
    ("gradcam_pp", GradCAMPlusPlus, {"alpha_norm": False}),
])
def test_against_pytorch_grad_cam(models, name, method, peer, params):
    bundle = models(name)
    layer = peer_layer(bundle, name)
    x = x_of()
    with peer(model=bundle.net, target_layers=[get_layer(bundle.net, layer)]) as cam:
        theirs = cam(input_tensor=x, targets=[ClassifierOutputTarget(TARGET)])[0]
    mine = ours(bundle, x, method, layer, **params).map.numpy()
    if np.ptp(theirs) == 0:  # the peer returns zeros where the map is all ≤ 0
        assert mine.max() <= 1e-12
    else:
        assert pearson(mine, theirs) >= 0.999


@pytest.mark.parametrize("name", MODELS)
def test_eigencam_projection(models, name):
    bundle = models(name)
    layer = peer_layer(bundle, name)
    x = x_of()
    acts = capture(bundle, x, ClassTarget(TARGET), [layer]).activations[layer]
    theirs = get_2d_projection(acts.numpy())[0]
    mine = principal_projection(acts[0]).numpy()
    assert abs(pearson(mine, theirs)) >= 0.999  # equal up to SVD's arbitrary sign
    out = ours(bundle, x, "eigencam", layer)
    with EigenCAM(model=bundle.net, target_layers=[get_layer(bundle.net, layer)]) as cam:
        peer_map = cam(input_tensor=x, targets=None)[0]
    if pearson(mine, theirs) > 0 and np.ptp(peer_map) > 0:
        assert pearson(out.map.numpy(), peer_map) >= 0.999


def test_scorecam_against_pytorch_grad_cam(zoo):
    bundle = zoo("resnet18")
    x = x_of(64)
    with ScoreCAM(model=bundle.net, target_layers=[bundle.net.layer3]) as cam:
        cam.batch_size = 64
        theirs = cam(input_tensor=x, targets=[ClassifierOutputTarget(TARGET)])[0]
    mine = ours(bundle, x, "scorecam", "layer3", variant="pytorch-grad-cam")
    assert pearson(mine.map.numpy(), theirs) >= 0.999
    assert mine.info["forward_passes"] <= 256  # constant channels share one forward


@pytest.mark.parametrize("name", MODELS)
def test_against_captum(models, name):
    bundle = models(name)
    layer = default_layer(bundle)
    module = get_layer(bundle.net, layer)
    x = x_of()
    theirs = LayerGradCam(bundle.net, module).attribute(x, target=TARGET, relu_attributions=True)[0, 0]
    mine = ours(bundle, x, "gradcam", layer)
    assert mine.low_res.shape == theirs.shape
    assert torch.allclose(mine.low_res, theirs.detach(), rtol=1e-4, atol=1e-6 * float(theirs.abs().max()) + 1e-12)
    guided = GuidedGradCam(bundle.net, module).attribute(x, target=TARGET, interpolate_mode="bilinear")[0]
    mine = ours(bundle, x, "guided_gradcam", layer, relu_scope="modules")
    if guided.abs().max() == 0:
        assert mine.attribution.abs().max() == 0
    else:
        assert pearson(mine.attribution.numpy(), guided.detach().numpy()) >= 0.999
