"""Models the CLI and GUI must be told about (input size, channels, mean/std, channel order,
model cards), and BatchNorm that uses batch statistics (warned at load, buffers never moved)."""

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.cli import main
from core.explain import Explainer
from core.images import load_image
from core.layers import layer_table
from core.models import Preprocess, load_model

from conftest import ROOT

STAR = str(ROOT / "resources" / "images" / "demo" / "clean_star.png")
GRAY = ["--channels", "1", "--input-size", "32", "--mean", "0.5", "--std", "0.25"]


class GrayNet(nn.Module):
    """A one-channel CNN of any input size."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x))).flatten(1))


class FixedNet(nn.Module):
    """A one-channel model that only accepts 32×32 inputs (a flattening linear layer)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(2 * 32 * 32, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class BatchStatsNet(nn.Module):
    """``kind``: "plain" (BatchNorm2d in eval mode), "untracked" (BatchNorm2d(track_running_stats=False))
    or "functional" (forward calls F.batch_norm(training=True) on the model's own running buffers)."""

    def __init__(self, kind: str = "untracked"):
        super().__init__()
        self.kind = kind
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8, track_running_stats=kind != "untracked")
        self.register_buffer("running_mean", torch.zeros(8))
        self.register_buffer("running_var", torch.ones(8))
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 3)

    def norm(self, h):
        if self.kind == "functional":
            return F.batch_norm(h, self.running_mean, self.running_var, training=True, momentum=0.5)
        return self.bn(h)

    def forward(self, x):
        h = torch.relu(self.norm(self.conv1(x)))
        return self.fc(self.pool(torch.relu(self.conv2(h))).flatten(1))


class SelfTrainNet(BatchStatsNet):
    """Puts itself in train mode on every forward (undoing the loader's ``eval()``)."""

    def norm(self, h):
        self.train()
        return self.bn(h)


def scripted(net, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script's deprecation notice
        torch.jit.script(net).save(str(path))
    return str(path)


@pytest.fixture
def gray_model(tmp_path):
    torch.manual_seed(0)
    return scripted(GrayNet(), tmp_path / "gray.pt")


def explain(model, *extra):
    return main(["explain", "--model", model, "--method", "saliency", "--image", STAR, *extra])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("saliency-studio: error: "), err
    assert "Traceback" not in err[0]
    return err[0]


# ----- A: describing the input -----

def test_gray_model_with_options(gray_model, tmp_path, capsys):
    x = tmp_path / "x.npy"
    assert explain(gray_model, *GRAY, "--save-input", str(x)) == 0, capsys.readouterr().err
    assert "predicted" in capsys.readouterr().out
    saved = np.load(x)
    assert saved.shape == (1, 1, 32, 32)
    # resized straight to 32×32 (no crop): grey by BT.601, then (v - 0.5) / 0.25
    rgb = load_image(STAR)
    display = Preprocess(crop=(32, 32), resize=None).display_image(rgb).astype(np.float32) / 255
    grey = display @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(saved[0, 0], (grey - 0.5) / 0.25, atol=1e-5)


def test_gray_model_without_options_is_one_line(gray_model, capsys):
    assert explain(gray_model) == 2
    line = one_line_error(capsys)
    assert "expects 1 input channel" in line and "3" in line


@pytest.mark.parametrize("extra,needle", [
    (["--channels", "3", "--mean", "0.5", "--std", "0.25"], "expects 1 input channel"),
    (["--channels", "1"], "mean"),
    (["--channels", "1", "--mean", "0.1,0.2", "--std", "0.25"], "mean has 2 values"),
    (["--channels", "2"], "--channels expects 1 or 3"),
    (["--input-size", "0"], "--input-size expects"),
    (["--input-size", "3x"], "--input-size expects"),
    (["--mean", "a,b"], "--mean expects"),
    (["--channel-order", "grb"], "--channel-order expects"),
    (["--channels", "1", "--channel-order", "bgr", "--mean", "0.5", "--std", "1"], "bgr needs 3 channels"),
    (["--input-size", "32", "--resize", "16", "--channels", "1", "--mean", "0.5", "--std", "1"], "smaller"),
    (["--channels", "1", "--mean", "0.5", "--std", "0"], "std must be positive"),
])
def test_bad_or_mismatched_descriptions_are_one_line(gray_model, capsys, extra, needle):
    assert explain(gray_model, *extra) == 2
    assert needle in one_line_error(capsys)


def test_input_size_that_does_not_fit(tmp_path, capsys):
    model = scripted(FixedNet(), tmp_path / "fixed.pt")
    assert explain(model, "--channels", "1", "--mean", "0.5", "--std", "0.25", "--input-size", "48") == 2
    line = one_line_error(capsys)
    assert "48×48 does not fit this model" in line and "--input-size" in line
    assert explain(model, "--channels", "1", "--mean", "0.5", "--std", "0.25", "--input-size", "32") == 0


def test_model_card_supplies_and_options_override(gray_model, tmp_path, capsys):
    (tmp_path / "names.txt").write_text("alpha\nbeta\ngamma\ndelta\n")
    (tmp_path / "gray.json").write_text(json.dumps(
        {"input_size": [32, 40], "channels": 1, "mean": [0.5], "std": 0.25, "labels": "names.txt"}))
    x = tmp_path / "x.npy"
    assert explain(gray_model, "--save-input", str(x)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert any(name in out for name in ("alpha", "beta", "gamma", "delta"))
    assert np.load(x).shape == (1, 1, 32, 40)
    assert explain(gray_model, "--save-input", str(x), "--input-size", "24", "--std", "0.5") == 0
    assert np.load(x).shape == (1, 1, 24, 24)
    bundle = load_model(gray_model)
    assert bundle.preprocess.crop == (32, 40) and bundle.preprocess.resize is None
    assert bundle.preprocess.mean == (0.5,) and bundle.preprocess.std == (0.25,)
    assert bundle.labels == ["alpha", "beta", "gamma", "delta"]
    assert explain(gray_model, "--channels", "3", "--mean", "0.5", "--std", "0.5") == 2
    assert "expects 1 input channel" in one_line_error(capsys)


@pytest.mark.parametrize("card,needle", [
    ("{not json", "not readable JSON"),
    (json.dumps({"channels": 5}), "'channels' in model card"),
    (json.dumps({"labels": "missing.txt"}), "labels file"),
])
def test_broken_model_card_is_one_line(gray_model, tmp_path, capsys, card, needle):
    (tmp_path / "gray.json").write_text(card)
    assert explain(gray_model, *GRAY) == 2
    assert needle in one_line_error(capsys)


def test_resize_then_crop(gray_model, tmp_path, capsys):
    x = tmp_path / "x.npy"
    assert explain(gray_model, *GRAY, "--resize", "40", "--save-input", str(x)) == 0
    assert np.load(x).shape == (1, 1, 32, 32)
    rgb = load_image(STAR)
    display = Preprocess(crop=(32, 32), resize=40).display_image(rgb).astype(np.float32) / 255
    grey = display @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(np.load(x)[0, 0], (grey - 0.5) / 0.25, atol=1e-5)


def test_every_model_command_takes_the_input_options():
    from core.cli import _build_parser

    parser, _ = _build_parser()
    for command in (["explain", "--image", "x", "--method", "saliency"], ["evaluate", "--images", "x", "--methods",
                    "saliency"], ["scan", "--data", "x"]):
        args = parser.parse_args([*command, "--model", "m.pt", *GRAY, "--resize", "36", "--channel-order", "rgb"])
        assert (args.input_size, args.channels, args.resize, args.channel_order) == ("32", "1", "36", "rgb")


def test_bt601_grey_on_a_known_pixel():
    pre = Preprocess(crop=(1, 1), resize=None, mean=(0.0,), std=(1.0,), channels=1)
    for pixel in ([255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 30]):
        x = pre.to_tensor(np.array([[pixel]], np.uint8))
        expected = (0.299 * pixel[0] + 0.587 * pixel[1] + 0.114 * pixel[2]) / 255
        assert x.shape == (1, 1, 1, 1) and float(x) == pytest.approx(expected, abs=1e-6)


def test_bgr_reverses_the_channels_of_the_tensor():
    rng = np.random.default_rng(0)
    display = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    rgb = Preprocess(crop=(4, 5), resize=None, mean=(0.5,) * 3, std=(0.25,) * 3)
    bgr = Preprocess(crop=(4, 5), resize=None, mean=(0.5,) * 3, std=(0.25,) * 3, channel_order="bgr")
    assert torch.equal(bgr.to_tensor(display), rgb.to_tensor(display).flip(1))
    # mean/std are per *model* channel: channel 0 of a BGR tensor is blue
    odd = Preprocess(crop=(4, 5), resize=None, mean=(0.1, 0.2, 0.3), std=(1.0, 1.0, 1.0), channel_order="bgr")
    x = odd.to_tensor(display)
    np.testing.assert_allclose(x[0, 0].numpy(), display[..., 2] / 255 - 0.1, atol=1e-6)
    np.testing.assert_allclose(x[0, 2].numpy(), display[..., 0] / 255 - 0.3, atol=1e-6)
    # pixels stay in display (RGB) order both ways, so synthesised images show true colours
    pixels = odd.input_to_pixels(x)
    np.testing.assert_allclose(pixels[0].permute(1, 2, 0).numpy(), display / 255, atol=1e-6)
    assert torch.allclose(odd.pixels_to_input(pixels), x, atol=1e-6)


def test_cli_bgr_matches_flipped_rgb(tmp_path, capsys):
    torch.manual_seed(0)
    model = scripted(BatchStatsNet("plain"), tmp_path / "rgbnet.pt")
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    common = ["--input-size", "32", "--mean", "0.5", "--std", "0.25"]
    assert explain(model, *common, "--save-input", str(a)) == 0
    assert explain(model, *common, "--channel-order", "bgr", "--save-input", str(b)) == 0
    np.testing.assert_array_equal(np.load(b), np.load(a)[:, ::-1])


# ----- B: BatchNorm with batch statistics -----

def test_untracked_batchnorm_is_warned(tmp_path, capsys):
    model = scripted(BatchStatsNet("untracked"), tmp_path / "untracked.pt")
    bundle = load_model(model, preprocess=Preprocess(crop=(32, 32), resize=None))
    assert any("depends on the other images in its batch" in w for w in bundle.warnings)
    assert explain(model, "--input-size", "32") == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(lines) == 1 and "batch" in lines[0]


@pytest.mark.parametrize("kind", ["functional", "self_train"])
def test_explaining_never_moves_running_statistics(tmp_path, kind):
    torch.manual_seed(0)
    path = tmp_path / f"{kind}.pth"
    torch.save(SelfTrainNet("plain") if kind == "self_train" else BatchStatsNet(kind), path)
    bundle = load_model(str(path), trust=True, preprocess=Preprocess(crop=(32, 32), resize=None))
    assert any("changes this model's buffers" in w for w in bundle.warnings)
    before = {n: b.clone() for n, b in bundle.net.named_buffers()}
    explainer = Explainer(bundle, load_image(STAR))
    explainer.explain("saliency")
    explainer.explain("gradcam")
    explainer.explain("occlusion", params={"window": 16, "stride": 16})
    layer_table(bundle)
    for name, value in bundle.net.named_buffers():
        assert torch.equal(value, before[name]), name


def test_demo_and_plain_models_have_no_warning(gray_model, capsys):
    assert load_model("demo").warnings == []
    assert load_model(gray_model, preprocess=Preprocess(
        crop=(32, 32), resize=None, mean=(0.5,), std=(0.25,), channels=1)).warnings == []
    assert explain("demo") == 0
    assert "warning" not in capsys.readouterr().err


class OnlyOne(nn.Module):
    """Works on one image, fails on a batch (reshapes to a single row)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        return self.fc(x.reshape(1, -1))


def test_model_failing_on_batches_is_warned_not_refused(tmp_path):
    path = tmp_path / "one.pth"
    torch.save(OnlyOne(), path)
    bundle = load_model(str(path), trust=True, preprocess=Preprocess(crop=(4, 4), resize=None))
    assert any("fails on a batch of two" in w for w in bundle.warnings)
