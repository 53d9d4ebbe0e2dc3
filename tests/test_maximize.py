"""Activation maximisation: raises its target a lot, and finds a linear model's known pattern."""

import numpy as np
import pytest
import torch

from core.methods import MethodContext, get_method
from core.models import load_model
from core.targets import ClassTarget, UnitTarget

from toy_models import Linear, bundle_of


@pytest.mark.parametrize("fourier", [False, True])
def test_raises_demo_class_logit(fourier):
    bundle = load_model("demo")
    x = torch.zeros(1, 3, 128, 128)
    out = get_method("activation_maximization")(MethodContext(bundle, x, ClassTarget(3)), steps=40,
                                                fourier=fourier)
    assert out.info["final_score"] > 5 * abs(out.info["start_score"])
    img = out.extras["image"]
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8


def test_raises_a_unit():
    bundle = load_model("demo")
    target = UnitTarget("features.7", 5, "mean")
    out = get_method("activation_maximization")(MethodContext(bundle, torch.zeros(1, 3, 128, 128), target),
                                                steps=30)
    assert out.info["final_score"] > 4 * max(out.info["start_score"], 0.05)


def test_linear_model_preferred_pattern():
    net = Linear(classes=2, seed=5)
    bundle = bundle_of(net)
    out = get_method("activation_maximization")(MethodContext(bundle, torch.zeros(1, 3, 8, 8), ClassTarget(1)),
                                                steps=40, lr=0.01, start="zeros", jitter=0, blur_every=0, l2=0.01)
    pattern = out.extras["image"].astype(np.float64).transpose(2, 0, 1).ravel() - 127.5
    w = net.fc.weight[1].detach().double().numpy()
    assert np.corrcoef(pattern, w)[0, 1] >= 0.9


def test_previews_arrive():
    bundle = bundle_of(Linear())
    seen = []
    ctx = MethodContext(bundle, torch.zeros(1, 3, 8, 8), ClassTarget(0), partial=seen.append)
    get_method("activation_maximization")(ctx, steps=20, preview_every=5)
    assert [s.info["step"] for s in seen] == [5, 10, 15, 20]
    assert seen[-1].extras["image"].shape == (8, 8, 3)
