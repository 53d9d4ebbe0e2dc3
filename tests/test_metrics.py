"""Metrics on known answers: ideal vs inverted vs random maps, exact IoU and pointing game."""

import numpy as np
import pytest
import torch
from torch import nn

from core.metrics.faithfulness import (auc, average_drop, deletion_insertion, pixel_ranks,
                                       region_perturbation, win_percent)
from core.metrics.localization import (box_from_map, box_mask, energy_in_box, iou, localization,
                                       pointing_accuracy, pointing_game)
from core.metrics.robustness import sanity_check, spearman, ssim, stability, topk_intersection
from core.models import ModelBundle, Preprocess

H = W = 32
REGION = (slice(8, 20), slice(10, 24))  # rows, cols


class RegionScore(nn.Module):
    """Class 0 logit = 6 · (mean of the region's pixels (first channel) − 0.5); class 1 = its negative."""

    def forward(self, x):
        s = 6 * (x[:, 0, REGION[0], REGION[1]].mean((1, 2)) - 0.5)
        return torch.stack([s, -s], 1)


@pytest.fixture
def toy():
    pre = Preprocess(crop=(H, W), resize=None, mean=(0.0,) * 3, std=(1.0,) * 3)
    bundle = ModelBundle(RegionScore(), preprocess=pre, labels=["region", "rest"])
    x = 0.1 + 0.2 * torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(0))
    x[..., REGION[0], REGION[1]] += 0.8  # a bright object the score reads; blurring dims it
    ideal = torch.zeros(H, W)
    ideal[REGION] = 1.0 + 0.01 * torch.rand(12, 14, generator=torch.Generator().manual_seed(1))
    return bundle, x, ideal


def test_deletion_ideal_best_inverted_worst(toy):
    bundle, x, ideal = toy
    random_map = torch.rand(H, W, generator=torch.Generator().manual_seed(5))
    d = {name: deletion_insertion(bundle, x, m, "deletion", step=16).value
         for name, m in (("ideal", ideal), ("inverted", -ideal), ("random", random_map))}
    assert d["ideal"] < d["random"] < d["inverted"]
    ins = {name: deletion_insertion(bundle, x, m, "insertion", step=16).value
           for name, m in (("ideal", ideal), ("inverted", -ideal), ("random", random_map))}
    assert ins["ideal"] > ins["random"] > ins["inverted"]


def test_deletion_curve_shape_and_auc(toy):
    bundle, x, ideal = toy
    res = deletion_insertion(bundle, x, ideal, "deletion")  # default step: the side (32)
    fx, fy = res.curve
    assert len(fx) == H * W // 32 + 1 and fx[0] == 0 and fx[-1] == 1
    assert res.value == pytest.approx(auc(fx, fy))
    assert res.details["target"] == 0
    # Once the 168 region pixels are gone (after 6 steps of 32) the score is at its floor.
    assert fy[6] == pytest.approx(fy[-1], abs=1e-6)


def test_batched_equals_one_at_a_time(toy):
    bundle, x, ideal = toy
    a = deletion_insertion(bundle, x, ideal, "deletion", step=16, batch_size=1).curve[1]
    b = deletion_insertion(bundle, x, ideal, "deletion", step=16, batch_size=64).curve[1]
    np.testing.assert_allclose(a, b, rtol=1e-6)
    a = region_perturbation(bundle, x, ideal, region=4, steps=20, batch_size=1).value
    b = region_perturbation(bundle, x, ideal, region=4, steps=20, batch_size=21).value
    assert a == pytest.approx(b)


def test_aopc_morf_beats_lerf_and_random(toy):
    bundle, x, ideal = toy
    morf = region_perturbation(bundle, x, ideal, "morf", region=4, steps=30).value
    lerf = region_perturbation(bundle, x, ideal, "lerf", region=4, steps=30).value
    rnd = region_perturbation(bundle, x, torch.rand(H, W), "morf", region=4, steps=30).value
    assert morf > rnd > lerf


def test_average_drop(toy):
    bundle, x, ideal = toy
    xs = torch.cat([x, x])
    ones = [torch.ones(H, W), torch.ones(H, W)]
    assert average_drop(bundle, xs, ones).value == pytest.approx(0.0, abs=1e-9)
    good = average_drop(bundle, xs, [ideal, ideal])
    bad = average_drop(bundle, xs, [-ideal + 1.01, -ideal + 1.01])
    assert good.value < bad.value
    assert win_percent({"good": good.details["per_image_drop"], "bad": bad.details["per_image_drop"]}) == \
        {"good": 100.0, "bad": 0.0}


def test_pixel_ranks():
    m = torch.tensor([[0.1, 0.9], [0.5, 0.9]])
    assert pixel_ranks(m, seed=None).tolist() == [[3, 0], [2, 1]]  # raster order on request
    assert pixel_ranks(m)[0, 0] == 3 and pixel_ranks(m)[1, 0] == 2


def test_pixel_ties_are_broken_at_random_with_the_seed():
    """A flat map (as CAMs are where they are exactly zero) must not be deleted top-left first."""
    m = torch.zeros(16, 16)
    m[4:8, 4:8] = torch.arange(16.0).view(4, 4) + 1
    ranks = pixel_ranks(m)
    assert sorted(ranks[4:8, 4:8].flatten().tolist()) == list(range(16))  # real values first, in order
    assert ranks[7, 7] == 0 and ranks[4, 4] == 15
    zeros = ranks[m == 0]
    first_row = ranks[0, :].float().mean()
    assert first_row > 16 + 30, "ties still taken in raster order"  # raster order would give 16..31
    assert torch.equal(pixel_ranks(m, seed=0), ranks)
    assert not torch.equal(pixel_ranks(m, seed=1), ranks)
    assert sorted(zeros.tolist()) == list(range(16, 256))


def test_box_iou_and_localization():
    m = np.zeros((40, 50))
    m[5:15, 20:35] = 1.0
    m[30:32, 2:4] = 0.9  # a smaller, separate blob
    assert box_from_map(m, 0.5) == (20, 5, 35, 15)
    assert iou((20, 5, 35, 15), (20, 5, 35, 15)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    res = localization(m, (20, 5, 35, 15), 0.5, predicted=2, label=2)
    assert res.value == 1.0 and res.details["top1_localization"] is True
    assert localization(m, (20, 5, 35, 15), 0.5, predicted=1, label=2).details["top1_localization"] is False


def test_pointing_game_tolerance_is_strict():
    mask = np.zeros((60, 60), bool)
    mask[10, 10] = True
    m = np.zeros((60, 60))
    m[10, 10 + 15] = 1.0  # 15 px away: a miss (strictly less than 15 counts)
    assert pointing_game(m, mask).value == 0.0
    m[:] = 0
    m[10 + 14, 10] = 1.0  # 14 px
    assert pointing_game(m, mask).value == 1.0
    assert pointing_game(m, mask, tolerance=14.9).value == 1.0
    m[:] = 0
    m[10 + 9, 10 + 12] = 1.0  # 15.0 px diagonally (9-12-15 triangle)
    assert pointing_game(m, mask).value == 0.0
    assert pointing_game(m, mask, tolerance=15.1).value == 1.0
    assert pointing_accuracy([1, 0, 1, 1], [0, 0, 1, 1]) == {"overall": 0.75, "per_class": {0: 0.5, 1: 1.0}}


def test_energy_in_box_xy_order():
    m = np.zeros((20, 40))
    m[2:6, 30:38] = 1.0  # wide box on the right: x (columns) 30..38, y (rows) 2..6
    assert energy_in_box(m, (30, 2, 38, 6)).value == 1.0
    assert energy_in_box(m, (2, 30, 6, 38)).value == 0.0
    assert box_mask((20, 40), (30, 2, 38, 6)).sum() == 32


def test_similarity_measures():
    a = np.arange(100, dtype=float).reshape(10, 10)
    assert spearman(a, a ** 2) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert topk_intersection(a, a, 0.1) == 1.0 and topk_intersection(a, -a, 0.1) == 0.0
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, np.random.default_rng(0).random((10, 10))) < 0.5


def test_stability_of_a_fixed_map_is_perfect_for_noise(toy):
    bundle, x, ideal = toy
    res = stability(bundle, x, lambda b, xx: ideal.numpy(), noise=(0.05,), angles=(), shifts=())
    assert res.value == pytest.approx(1.0)
    # A map that follows the image content survives rotation / translation once mapped back;
    # a map glued to the frame does not.
    follow = lambda b, xx: b.preprocess.input_to_pixels(xx)[0, 0].numpy()  # noqa: E731
    moved = stability(bundle, x, follow, noise=(), angles=(10.0,), shifts=(3,)).details["rows"]
    glued = stability(bundle, x, lambda b, xx: ideal.numpy(), noise=(), angles=(10.0,), shifts=(3,)).details["rows"]
    assert all(r["spearman"] > 0.8 for r in moved)
    assert all(g["topk_intersection"] < m["topk_intersection"] - 0.1 for g, m in zip(glued, moved))


def test_sanity_check_flags_a_model_independent_map():
    """Adebayo et al. 2018, Fig. 2: guided backprop stays similar while the top blocks are
    randomised (flagged), Grad-CAM changes (passes); a map ignoring the model is flagged."""
    from core.capture import CaptureCache
    from core.images import load_image
    from core.methods import MethodContext, get_method
    from core.models import load_model
    from core.targets import ClassTarget

    bundle = load_model("demo")
    _, x = bundle.prepare(load_image("resources/images/demo/clean_star.png"))

    def method_map(name, **params):
        def fn(b, xx):
            ctx = MethodContext(b, xx, ClassTarget(3), layer="features", cache=CaptureCache())
            return get_method(name)(ctx, **params).map.numpy()
        return fn

    def edge_map(b, xx):  # ignores the model entirely
        return xx[0].abs().sum(0).numpy()

    edge = sanity_check(bundle, x, edge_map)
    assert edge.details["flagged"] is True and edge.value == pytest.approx(1.0)
    res = sanity_check(bundle, x, method_map("gradcam", relu=False))
    assert res.details["flagged"] is False
    assert res.details["rows"][0]["randomised_down_to"] == "fc" and len(res.details["rows"]) == 8  # fc + 7 convs
    assert res.details["blocks_read"] == ["fc", "features.8", "features.7"]
    assert res.details["statistic"] == "combined" and "rule" in res.details
    assert res.value < res.details["threshold"] - 0.2
    guided = sanity_check(bundle, x, method_map("guided_backprop"))
    assert guided.details["flagged"] is True
    assert guided.value > guided.details["threshold"] + 0.05


def test_deletion_and_insertion_share_end_images(toy):
    from core.metrics.faithfulness import deletion_and_insertion

    bundle, x, ideal = toy
    both = deletion_and_insertion(bundle, x, ideal, step=64, insertion_start="fill")
    n = H * W // 64
    assert both["deletion"].details["forward_passes"] == 2 * (n + 1) - 2
    alone = deletion_insertion(bundle, x, ideal, "insertion", step=64, insertion_start="fill")
    np.testing.assert_allclose(both["insertion"].curve[1], alone.curve[1], rtol=1e-6)
    assert both["insertion"].curve[1][0] == both["deletion"].curve[1][-1]


def test_robustness_cancel(toy):
    from core.jobs import Cancelled, Progress

    bundle, x, ideal = toy
    progress = Progress()
    progress._callback = lambda d, t, m: progress.cancel()
    with pytest.raises(Cancelled):
        stability(bundle, x, lambda b, xx: ideal.numpy(), progress=progress)
    assert progress.done == 1


def test_pointing_game_in_the_original_image():
    """TorchRay's protocol: the maximum mapped back to the original image, 15 original pixels."""
    from core.models import Preprocess

    pre = Preprocess(crop=(100, 100), resize=100)  # 200×400 → 100×200, 50 columns cropped on the left
    assert pre.geometry(200, 400) == (0.5, 0.5, 50, 0)
    original = np.zeros((200, 400), bool)
    original[100:120, 200:240] = True  # in the input crop: x 50..70, y 50..60
    m = np.zeros((100, 100))
    m[55, 40] = 1.0  # 10 crop px left of the object = 19 original px (x 181)
    res = pointing_game(m, original, 15.0, pre.geometry(200, 400))
    assert res.value == 0.0 and res.details["space"] == "original image"
    assert res.details["point_in_mask_coordinates"] == [181, 111] and res.details["distance"] == pytest.approx(19)
    inside_crop = pointing_game(m, pre.map_mask(original), 15.0)  # the same point, measured in the crop
    assert inside_crop.value == 1.0 and inside_crop.details["space"] == "model input"
    m[55, 40], m[55, 45] = 0.0, 1.0  # x 191 in the original: 9 px away, a hit in both
    assert pointing_game(m, original, 15.0, pre.geometry(200, 400)).value == 1.0
