"""ROAD, sparseness, complexity and max-sensitivity: analytic known answers, the demo model's
ground truth, and agreement with Quantus where the definitions match (test-only peer)."""

import numpy as np
import pytest
import torch

from core.images import load_image
from core.metrics.complexity import complexity, sparseness
from core.metrics.road import linear_imputation, road
from core.metrics.robustness import max_sensitivity
from core.models import load_model

from conftest import ROOT

DEMO = ROOT / "resources" / "images" / "demo"


def test_sparseness_and_complexity_on_analytic_maps():
    n = 64 * 64
    delta, uniform = np.zeros((64, 64)), np.ones((64, 64))
    delta[10, 20] = 3.0
    assert sparseness(delta).value == pytest.approx((n - 1) / n) and sparseness(uniform).value == pytest.approx(0)
    assert complexity(delta).value == pytest.approx(0) and complexity(uniform).value == pytest.approx(np.log(n))
    assert sparseness(-delta).value == sparseness(delta).value  # absolute values
    half = np.zeros((64, 64))
    half[:32] = 1
    assert complexity(half).value == pytest.approx(np.log(n / 2))


def test_sparseness_and_complexity_agree_with_quantus():
    import quantus

    rng = np.random.default_rng(0)
    a = rng.random((3, 1, 16, 16)).astype(np.float32)
    a[1, 0, :8] = 0
    a[2] = a[2] ** 4
    x, y = rng.random((3, 3, 16, 16)).astype(np.float32), np.array([0, 1, 2])
    kwargs = dict(model=None, x_batch=x, y_batch=y)
    theirs_s = quantus.Sparseness(disable_warnings=True, normalise=False)(a_batch=a.copy(), **kwargs)
    theirs_c = quantus.Complexity(disable_warnings=True, normalise=False)(a_batch=a.copy(), **kwargs)
    np.testing.assert_allclose([sparseness(m[0]).value for m in a], theirs_s, atol=1e-5)
    np.testing.assert_allclose([complexity(m[0]).value for m in a], theirs_c, atol=1e-5)


def test_linear_imputation_reproduces_a_ramp_and_matches_quantus():
    from quantus.functions.perturb_func import noisy_linear_imputation

    h, w = 20, 24
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = torch.tensor(np.stack([0.3 + 0.05 * xx - 0.02 * yy, 0.1 * yy, -xx / w]), dtype=torch.float64)[None]
    removed = torch.zeros(1, 1, h, w, dtype=torch.bool)
    removed[0, 0, 4:15, 5:19] = True  # away from the border the 8-neighbour mean of a plane is the plane
    filled = linear_imputation(ramp, removed, tol=1e-12, max_iter=5000)
    np.testing.assert_allclose(filled.numpy(), ramp.numpy(), atol=1e-8)
    rng = np.random.default_rng(1)
    img = rng.random((3, h, w))
    holes = rng.random((h, w)) < 0.6
    ours = linear_imputation(torch.tensor(img)[None], torch.tensor(holes)[None, None], tol=1e-12, max_iter=5000)
    theirs = noisy_linear_imputation(img, np.flatnonzero(holes.ravel()), noise=0.0)
    np.testing.assert_allclose(ours[0].numpy(), theirs, atol=1e-7)


@pytest.fixture(scope="module")
def demo_star():
    bundle = load_model("demo")
    _, x = bundle.prepare(load_image(DEMO / "clean_star.png"))
    from core.datasets.samples import read_samples

    mask = next(s for s in read_samples() if s["file"] == "clean_star.png")["mask_array"]
    return bundle, x, mask.astype(np.float32)


def test_road_ranks_the_ground_truth_above_a_random_map(demo_star):
    bundle, x, truth = demo_star
    rand = np.random.default_rng(0).random(truth.shape).astype(np.float32)
    morf_truth, morf_rand = road(bundle, x, truth, "morf"), road(bundle, x, rand, "morf")
    lerf_truth, lerf_rand = road(bundle, x, truth, "lerf"), road(bundle, x, rand, "lerf")
    assert morf_truth.value < morf_rand.value, "MoRF: removing the object first must hurt more"
    assert lerf_truth.value > lerf_rand.value, "LeRF: removing the background first must hurt less"
    assert morf_truth.curve[0].tolist() == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert len(morf_truth.details["kept"]) == 9 and morf_truth.details["kept"][0] in (0, 1)
    assert road(bundle, x, truth, "morf").value == morf_truth.value  # seeded noise: reproducible


def test_max_sensitivity(demo_star):
    bundle, x, truth = demo_star
    constant = max_sensitivity(bundle, x, lambda b, xx: truth, samples=3)
    assert constant.value == 0.0  # a map that ignores the input never moves
    follows = max_sensitivity(bundle, x, lambda b, xx: b.preprocess.input_to_pixels(xx)[0, 0].numpy(),
                              radius=0.02, samples=5)
    assert 0 < follows.value <= 0.02 * np.sqrt(truth.size) + 1e-6  # ‖δ‖_F ≤ r·√n for the identity map
    rel = max_sensitivity(bundle, x, lambda b, xx: b.preprocess.input_to_pixels(xx)[0, 0].numpy(), samples=5,
                          relative=True)
    assert rel.details["relative"] and rel.value < follows.value
