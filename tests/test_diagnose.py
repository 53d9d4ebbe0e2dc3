"""Adversarial attacks, failure-mode scan and bias report on the demo models."""

import csv

import cv2
import numpy as np
import pytest
import torch

from core.capture import CaptureCache
from core.datasets.shapes import CLASSES, generate, tag_box
from core.datasets.train import to_batch
from core.diagnose.adversarial import (amplified, attack, epsilon_sweep, explain_attack, explanation_shift,
                                       map_function)
from core.diagnose.bias import bias_report
from core.diagnose.scan import read_labelled, scan
from core.explain import Explainer
from core.methods import MethodContext, get_method
from core.models import Preprocess, load_model
from core.models.demo import DEMO_MEAN, DEMO_STD
from core.targets import ClassTarget

from conftest import write_labelled_folder


@pytest.fixture(scope="module")
def demo():
    return load_model("demo")


@pytest.fixture(scope="module")
def shapes():
    return generate(12, seed=77)


def test_pgd_flips_most_and_respects_bounds(demo, shapes):
    xs = to_batch(shapes.images).contiguous()
    flipped = 0
    eps = 8 / 255
    for i in range(8):
        x = xs[i:i + 1]
        res = attack(demo, x, eps, "pgd", "linf", steps=10)
        pixels = demo.preprocess.input_to_pixels(x)[0].permute(1, 2, 0).numpy()
        adv = demo.preprocess.input_to_pixels(res.x)[0].permute(1, 2, 0).numpy()
        assert np.abs(adv - pixels).max() <= eps + 1e-5 and adv.min() >= -1e-6 and adv.max() <= 1 + 1e-6
        assert res.norm <= eps + 1e-6
        flipped += res.success
    assert flipped >= 6, f"PGD flipped only {flipped}/8"


def test_fgsm_and_l2(demo, shapes):
    x = to_batch(shapes.images[:1]).contiguous()
    fgsm = attack(demo, x, 2 / 255, "fgsm", "linf")
    assert fgsm.norm == pytest.approx(2 / 255, abs=1e-5) or fgsm.norm < 2 / 255
    l2 = attack(demo, x, 2.0, "pgd", "l2", steps=10)
    assert l2.norm <= 2.0 + 1e-4
    assert amplified(l2.delta).dtype == np.uint8


def test_targeted_attack_reaches_its_class(demo, shapes):
    x = to_batch(shapes.images[:1]).contiguous()
    goal = (int(shapes.labels[0]) + 2) % len(CLASSES)
    res = attack(demo, x, 16 / 255, "pgd", "linf", steps=30, target=goal)
    assert res.success and res.after[0] == goal


def test_explanation_shift_and_sweep(demo, shapes):
    x = to_batch(shapes.images[:1]).contiguous()
    target = ClassTarget(int(shapes.labels[0]))

    def gradcam(b, xx):
        return get_method("gradcam")(MethodContext(b, xx, target, layer="features", cache=CaptureCache())).map.numpy()

    same = explanation_shift(gradcam(demo, x), gradcam(demo, x))
    assert same["spearman"] == pytest.approx(1.0) and same["ssim"] == pytest.approx(1.0)
    rows = epsilon_sweep(demo, x, [0.0, 4 / 255, 16 / 255], gradcam, method="pgd", steps=5)
    assert rows[0]["spearman"] > 0.99 and rows[-1]["confidence"] < rows[0]["confidence"]


def test_attack_explanation_uses_the_exact_adversarial_input(shapes):
    """torchvision-style preprocessing (resize 128, crop 112): the adversarial explanation runs
    on ``res.x`` itself, so its prediction is ``res.after``, never a re-cropped zoom of the pixels."""
    bundle = load_model("demo", preprocess=Preprocess(crop=(112, 112), resize=128, mean=DEMO_MEAN, std=DEMO_STD))
    display, x = bundle.prepare(shapes.images[0])
    assert display.shape == (112, 112, 3)
    res = attack(bundle, x, 8 / 255, "pgd", "linf", steps=5)
    assert res.pixels.shape == display.shape and res.pixels.dtype == np.uint8
    # the setup really crops: preprocessing the adversarial pixels again changes the input
    assert not torch.allclose(Explainer(bundle, res.pixels).x, res.x, atol=0.05)
    adv = Explainer.from_input(bundle, res.x, res.pixels)
    assert torch.equal(adv.x, res.x) and adv.display is not None and adv.prediction[0][0] == res.after[0]

    shown = explain_attack(bundle, x, res, "gradcam", layer="features")
    assert shown.method == "gradcam" and shown.result is res
    assert shown.adversarial.prediction[0][0] == res.after[0] != res.before[0]
    assert shown.clean.prediction[0][0] == res.before[0]
    np.testing.assert_array_equal(shown.adversarial.image, res.pixels)
    assert shown.clean.target.index == shown.adversarial.target.index == res.before[0]
    direct = get_method("gradcam")(MethodContext(bundle, res.x, ClassTarget(res.before[0]), layer="features",
                                                 cache=CaptureCache())).map.numpy()
    np.testing.assert_allclose(shown.adversarial.map, direct, rtol=1e-5, atol=1e-6)
    assert shown.shift == explanation_shift(shown.clean.map, shown.adversarial.map)
    with pytest.raises(ValueError):
        Explainer.from_input(bundle, res.x, display[:100])


def test_epsilon_sweep_honours_the_method(demo, shapes):
    x = to_batch(shapes.images[:1]).contiguous()
    eps = [0.0, 8 / 255]
    rows = epsilon_sweep(demo, x, eps, "saliency", method="pgd", steps=3)
    assert [r["method"] for r in rows] == ["saliency", "saliency"] and rows[0]["spearman"] > 0.99
    target = ClassTarget(demo.predict(x, k=1)[0][0])

    def saliency(xx):
        return get_method("saliency")(MethodContext(demo, xx, target, cache=CaptureCache())).map.detach().numpy()

    res = attack(demo, x, eps[-1], "pgd", steps=3)
    expected = explanation_shift(saliency(x), saliency(res.x))
    assert rows[-1]["spearman"] == pytest.approx(expected["spearman"])
    assert rows[-1]["ssim"] == pytest.approx(expected["ssim"], abs=1e-6)
    gradcam_rows = epsilon_sweep(demo, x, eps, "gradcam", method="pgd", steps=3)
    assert gradcam_rows[-1]["method"] == "gradcam" and gradcam_rows[-1]["spearman"] != rows[-1]["spearman"]

    # a core-built map_fn with the user's parameters, and a map_fn returning a tensor still in a graph
    built = map_function("smoothgrad", target, params={"samples": 2})
    assert built.method == "smoothgrad" and built(demo, x).shape == (128, 128)

    def tensor_map(b, xx):
        return get_method("saliency")(MethodContext(b, xx, target, cache=CaptureCache())).map.clone().requires_grad_()

    tensor_rows = epsilon_sweep(demo, x, eps, tensor_map, method="pgd", steps=3)
    assert tensor_rows[0]["method"] == "tensor_map"
    assert tensor_rows[-1]["spearman"] == pytest.approx(expected["spearman"])


def test_scan_confusion_matrix(tmp_path, demo):
    write_labelled_folder(tmp_path / "set", generate(18, seed=5))
    items = read_labelled(tmp_path / "set", demo.labels)
    result = scan(demo, items, batch_size=5)
    with torch.inference_mode():
        expected = demo(torch.cat([demo.prepare(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB))[1]
                                   for p, _ in items])).argmax(1).numpy()
    np.testing.assert_array_equal(result.predictions, expected)
    truth = np.array([lab for _, lab in items])
    manual = np.zeros((6, 6), int)
    for t, p in zip(truth, expected):
        manual[t, p] += 1
    np.testing.assert_array_equal(result.confusion, manual)
    assert result.accuracy == pytest.approx(np.mean(truth == expected))
    wrong = result.misclassified()
    assert [w["confidence"] for w in wrong] == sorted((w["confidence"] for w in wrong), reverse=True)
    listing = tmp_path / "list.csv"
    with open(listing, "w", newline="") as f:
        csv.writer(f).writerows([["file", "label"]] + [[str(p.relative_to(tmp_path)), CLASSES[lab]] for p, lab in items])
    assert read_labelled(listing, demo.labels) == [(tmp_path / p.relative_to(tmp_path), lab) for p, lab in items]
    with pytest.raises(ValueError, match="not a class"):
        (tmp_path / "set" / "hexagon").mkdir()
        read_labelled(tmp_path / "set", demo.labels)


def test_bias_report_flags_the_biased_model():
    data = generate(60, seed=31, mode="counter")
    reports = {}
    for name in ("demo", "demo-biased"):
        bundle = load_model(name)
        maps = []
        for img in data.images:
            _, x = bundle.prepare(img)
            maps.append(get_method("gradcam")(MethodContext(bundle, x, ClassTarget(int(bundle.predict(x, 1)[0][0])),
                                                            layer="features")).map.numpy())
        x0, y0, x1, y1 = tag_box(128)
        reports[name] = bias_report(maps, list(data.masks), list(data.labels), (x0 - 4, y0 - 4, x1 + 4, y1 + 4))
    assert reports["demo-biased"].flagged and not reports["demo"].flagged
    assert reports["demo-biased"].object_share < reports["demo"].object_share
    assert set(reports["demo"].per_class) == set(range(6))
