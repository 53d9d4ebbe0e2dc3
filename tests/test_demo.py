"""The bundled demo models: integrity, accuracy on fresh data, and known-answer explanations.

Measured figures are recorded in resources/models/*.json and in the README: on 300 fresh images,
clean model Grad-CAM pointing game 95.7%; Grad-CAM mass near the tag on counter-biased images
11.8% (biased model) vs 2.5% (clean model).
"""

import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.capture import capture
from core.datasets.samples import read_samples
from core.datasets.shapes import generate, tag_box
from core.datasets.train import accuracy, to_batch
from core.models import ModelLoadError, load_model
from core.models.demo import RESOURCES, demo_card
from core.targets import ClassTarget

N_TEST = 300
FRESH_SEED = 4242  # differs from the training seeds and the card's test seed


@pytest.fixture(scope="module")
def clean():
    return load_model("demo")


@pytest.fixture(scope="module")
def biased():
    return load_model("demo-biased")


def grad_cam(bundle, images: np.ndarray, layer: str = "features") -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017, eqs. 1-2) for the predicted class, upsampled bilinearly."""
    x = to_batch(images).contiguous()
    with torch.inference_mode():
        pred = bundle(x).argmax(1)
    cams = torch.zeros(len(x), *x.shape[-2:])
    for k in pred.unique().tolist():
        idx = (pred == k).nonzero().flatten()
        cap = capture(bundle, x[idx], ClassTarget(k), [layer])
        a, g = cap.activations[layer], cap.gradients[layer]
        cam = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
        cams[idx] = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return cams.numpy()


def test_weights_match_card():
    for name in ("demo", "demo-biased"):
        card = demo_card(name)
        data = (RESOURCES / card["weights"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == card["sha256"]
        assert len(data) < 4_000_000 and card["classes"][0] == "circle"
        assert 0.5e6 < card["parameters"] < 1.5e6


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    import core.models.demo as demo

    for f in ("demo_clean.pt", "demo_clean.json"):
        (tmp_path / f).write_bytes((RESOURCES / f).read_bytes())
    raw = bytearray((tmp_path / "demo_clean.pt").read_bytes())
    raw[-100] ^= 0xFF
    (tmp_path / "demo_clean.pt").write_bytes(bytes(raw))
    monkeypatch.setattr(demo, "RESOURCES", tmp_path)
    with pytest.raises(ModelLoadError, match="sha256"):
        demo.load_demo("demo")


def test_clean_accuracy(clean):
    assert accuracy(clean.net, N_TEST, "clean", seed=FRESH_SEED) >= 0.97
    stated = json.loads((RESOURCES / "demo_clean.json").read_text())["test_accuracy"]["clean"]
    assert stated >= 0.97


def test_biased_model_follows_the_tag(clean, biased):
    on_biased = accuracy(biased.net, N_TEST, "biased", seed=FRESH_SEED)
    on_counter = accuracy(biased.net, N_TEST, "counter", seed=FRESH_SEED)
    assert on_biased >= 0.97
    assert on_counter <= on_biased - 0.3, f"counter-biased accuracy {on_counter:.2f} is not clearly worse"
    assert accuracy(clean.net, N_TEST, "counter", seed=FRESH_SEED) >= 0.9  # the clean model mostly ignores tags


def test_grad_cam_points_at_the_object(clean):
    data = generate(N_TEST, seed=FRESH_SEED)
    cams = grad_cam(clean, data.images)
    hits = 0
    for cam, box in zip(cams, data.boxes):
        y, x = np.unravel_index(np.argmax(cam), cam.shape)
        x0, y0, x1, y1 = box
        dx = max(x0 - x, 0, x - (x1 - 1))
        dy = max(y0 - y, 0, y - (y1 - 1))
        hits += (dx * dx + dy * dy) < 15 ** 2
    assert hits / N_TEST >= 0.90, f"pointing game {hits / N_TEST:.2%}"


def test_biased_model_looks_at_the_tag(clean, biased):
    data = generate(N_TEST, seed=FRESH_SEED, mode="counter")
    x0, y0, x1, y1 = tag_box(128)
    pad = 4  # bilinear upsampling spreads a 16×16 map's cell over 8 px

    def tag_share(bundle):
        cams = grad_cam(bundle, data.images)
        inside = cams[:, max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad].sum((1, 2))
        return float(np.mean(inside / np.maximum(cams.sum((1, 2)), 1e-12)))

    share_biased, share_clean = tag_share(biased), tag_share(clean)
    assert share_biased > 2 * share_clean, (share_biased, share_clean)


def test_demo_samples_ground_truth(clean):
    samples = read_samples()
    assert len(samples) >= 12 and {s["mode"] for s in samples} == {"clean", "biased", "counter"}
    for s in samples:
        ys, xs = np.nonzero(s["mask_array"])
        assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == s["box"]
    from core.images import load_image

    correct = [clean.predict(clean.prepare(load_image(s["path"]))[1], 1)[0][0] == s["label"] for s in samples]
    assert sum(correct) >= len(samples) - 1
