"""Adversarial attacks, failure-mode scan and bias report on the demo models."""

import csv

import cv2
import numpy as np
import pytest
import torch

from core.capture import CaptureCache
from core.datasets.shapes import CLASSES, generate, tag_box
from core.datasets.train import to_batch
from core.diagnose.adversarial import amplified, attack, epsilon_sweep, explanation_shift
from core.diagnose.bias import bias_report
from core.diagnose.scan import read_labelled, scan
from core.methods import MethodContext, get_method
from core.models import load_model
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
