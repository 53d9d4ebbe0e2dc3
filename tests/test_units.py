"""Units: class-specific units on the demo model's ground truth, top images of a planted unit,
receptive fields from the input gradient, and the ``units`` command."""

import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from core.cli import main
from core.datasets.shapes import generate
from core.models import ModelBundle, Preprocess, load_model
from core.units import channel_maps, class_units, rank_channels, receptive_boxes, top_images

from conftest import ROOT

STAR = str(ROOT / "resources/images/demo/clean_star.png")


def test_top_class_units_sit_on_the_object():
    """CAM §5 on fresh images: the 3 units the true class relies on most put their activation on
    the object far beyond its area share."""
    bundle = load_model("demo")
    data = generate(12, seed=321)
    for img, label, mask in zip(data.images, data.labels, data.masks):
        _, x = bundle.prepare(img)
        units = class_units(bundle, x, int(label), "features", top=3)
        assert {u["ranking"] for u in units} == {"cam"}
        energy = sum(np.clip(u["map"], 0, None) for u in units)
        inside = cv2.resize(mask.astype(np.float32), energy.shape[::-1], interpolation=cv2.INTER_AREA)
        assert (energy * inside).sum() / energy.sum() >= 2 * inside.mean()


class RedDetector(nn.Module):
    """Channel 0 of ``units`` fires on red (R − G − B), channel 1 on green; then GAP + linear."""

    def __init__(self):
        super().__init__()
        self.units = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.units.weight.copy_(torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0]]).view(2, 3, 1, 1))
            self.units.bias.zero_()
        self.relu = nn.ReLU()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        return self.fc(self.relu(self.units(x)).mean((2, 3)))


def _toy_bundle(net, size=16):
    return ModelBundle(net=net, preprocess=Preprocess(crop=(size, size), resize=None, mean=(0.0,) * 3,
                                                       std=(1.0,) * 3), labels=["red", "green"], name="toy")


def test_planted_unit_top_images_in_activation_order(tmp_path):
    bundle = _toy_bundle(RedDetector())
    rng = np.random.default_rng(0)
    files, reds = [], {}
    for i in range(14):
        img = np.zeros((16, 16, 3), np.uint8)
        img[..., 1] = rng.integers(0, 120)  # greenish background
        if i % 3 == 0:  # a red square of varying strength
            strength = 120 + 9 * i
            img[4:9, 6:11] = (strength, 0, 0)
            reds[i] = strength
        path = tmp_path / f"{i:02d}.png"
        cv2.imwrite(str(path), img[..., ::-1])
        files.append(path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    top = top_images(bundle, files + [tmp_path / "broken.png"], "units", k=len(reds), batch_size=4)
    expected = sorted(reds, key=lambda i: -reds[i])
    assert [e["image"] for e in top.of(0)] == expected
    assert all(4 <= e["position"][0] < 9 and 6 <= e["position"][1] < 11 for e in top.of(0))
    assert len(top.skipped) == 1 and "broken.png" in top.skipped[0]["file"]
    values = [e["activation"] for e in top.of(0)]
    assert values == sorted(values, reverse=True) and values[0] == pytest.approx(reds[expected[0]] / 255)


def test_receptive_field_from_the_input_gradient():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 2))
    torch.manual_seed(0)
    bundle = _toy_bundle(net)
    x = torch.randn(1, 3, 16, 16)
    one, two = receptive_boxes(bundle, x, "0", [(1, 5, 5)], fraction=1e-6)[0], \
        receptive_boxes(bundle, x, "1", [(2, 5, 5)], fraction=1e-6)[0]
    assert one == (4, 4, 7, 7) and two == (3, 3, 8, 8)  # 3×3, then 5×5 around (y, x) = (5, 5)


def test_channel_ranking_and_gradient_ranking_without_a_linear_head():
    bundle = load_model("demo")
    from core.images import load_image

    _, x = bundle.prepare(load_image(STAR))
    maps = channel_maps(bundle, x, "features")
    order = rank_channels(maps, "mean")
    assert maps.shape[0] == 192 and maps[order[0]].mean() >= maps[order[-1]].mean()
    # features.7 is not read by the linear head: the gradient equivalent, labelled as such
    units = class_units(bundle, x, 3, "features.7", top=3)
    assert {u["ranking"] for u in units} == {"gradient"}
    with pytest.raises(Exception, match="CAM does not apply"):
        class_units(bundle, x, 3, "features.7", ranking="cam")


def test_units_command(tmp_path, capsys):
    js, sheet = tmp_path / "u.json", tmp_path / "u.png"
    assert main(["units", "--model", "demo", "--layer", "features", "--image", STAR, "--top", "5",
                 "--json", str(js)]) == 0
    data = json.loads(js.read_text())
    assert len(data["units"]) == 5 and all(isinstance(u["channel"], int) for u in data["units"])
    scores = [u["score"] for u in data["units"]]
    assert scores == sorted(scores, reverse=True) and data["ranking"] == "mean activation"
    assert main(["units", "--model", "demo", "--layer", "features", "--image", STAR, "--class", "star",
                 "--top", "2", "--data", str(ROOT / "resources/images/demo"), "--images-per-unit", "2",
                 "--json", str(js), "--sheet", str(sheet)]) == 0
    data = json.loads(js.read_text())
    assert data["class"] == 3 and data["units"][0]["ranking"] == "cam"
    assert len(data["units"][0]["top_images"]) == 2 and len(data["units"][0]["top_images"][0]["box"]) == 4
    assert cv2.imread(str(sheet)).shape[1] > 3 * 128
    capsys.readouterr()
    assert main(["units", "--model", "demo", "--layer", "nope", "--image", STAR, "--json", str(js)]) == 2
    assert main(["units", "--model", "demo", "--layer", "features", "--image", STAR, "--class", "zebra",
                 "--json", str(js)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2


def test_unit_synthesis_is_cached():
    from core.units import unit_synthesis

    bundle = load_model("demo")
    first = unit_synthesis(bundle, "features.7", 5, {"steps": 3})
    assert first.shape == (128, 128, 3) and first.dtype == np.uint8
    again = unit_synthesis(bundle, "features.7", 5, {"steps": 3})
    assert np.array_equal(first, again)
    from core.paths import user_dirs

    assert any((user_dirs().cache / "units").rglob("*.png"))
