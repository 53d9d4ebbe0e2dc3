"""The explain entry point, rendering and progress/cancel plumbing."""

import numpy as np
import pytest

from core.explain import Explainer
from core.jobs import Cancelled, Progress
from core.render import colorize, normalize, overlay
from core.targets import ClassTarget


def test_explainer_shares_one_capture(zoo, rgb_image):
    explainer = Explainer(zoo("resnet18"), rgb_image)
    a = explainer.explain("saliency")
    b = explainer.explain("input_x_gradient")
    assert explainer.cache.passes == 1
    assert a.map.shape == b.map.shape == (224, 224) and a.map.dtype == np.float32
    assert a.image.shape == (224, 224, 3)
    assert a.target == ClassTarget(a.prediction[0][0])
    assert a.to_dict()["target"]["index"] == a.prediction[0][0]


def test_maps_are_not_normalised(zoo, rgb_image):
    explainer = Explainer(zoo("resnet18"), rgb_image)
    result = explainer.explain("input_x_gradient", target=ClassTarget(4))
    assert result.map.min() < 0 and result.map.max() < 1e-1


def test_cancel_integrated_gradients(zoo, rgb_image):
    explainer = Explainer(zoo("resnet18"), rgb_image)
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        explainer.explain("integrated_gradients", progress=progress, params={"steps": 8})


def test_render():
    signed = np.array([[-2.0, 0.0], [1.0, 2.0]], np.float32)
    n = normalize(signed, percentile=100)
    assert n[0, 1] == 0.5 and n[0, 0] == 0.0 and n[1, 1] == 1.0
    flat = normalize(np.zeros((3, 3)))
    assert (flat == 0).all()
    rgb = colorize(np.random.rand(5, 6))
    assert rgb.shape == (5, 6, 3) and rgb.dtype == np.uint8
    img = np.full((5, 6, 3), 100, np.uint8)
    assert (overlay(img, np.random.rand(5, 6), alpha=0.0) == img).all()
    with pytest.raises(ValueError):
        overlay(img, np.zeros((4, 4)))
