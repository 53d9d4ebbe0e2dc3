"""Whatever a model returns (tensor, tuple, dict, an object with ``.logits``, a Hugging Face-style
``ModelOutput``; layers that return tuples) is explained the same; multi-label (sigmoid) heads:
the sigmoid score's gradient is the analytic one and predictions are per-class probabilities."""

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from core.capture import CaptureCache, capture
from core.cli import main
from core.explain import Explainer
from core.methods import MethodContext, get_method
from core.models import ModelBundle, Preprocess, load_model
from core.targets import CLASS_KINDS, ClassTarget

GRID, C, K = 4, 6, 5


class ModelOutput(OrderedDict):
    """Like transformers.utils.ModelOutput: a dict whose entries are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Layer(nn.Module):
    """A transformer-style layer that returns a tuple (hidden_states, attention), as HF layers do."""

    def __init__(self):
        super().__init__()
        self.mix = nn.Linear(C, C)

    def forward(self, h):
        return self.mix(h).tanh(), torch.zeros(1)


class TokenNet(nn.Module):
    """Patches → class token + 4×4 tokens → one tuple-returning layer → head on the patch mean.
    Grad-CAM at ``layer`` is known: the gradient at every patch token is W[k] / 16, so the map is
    Σ_c W[k, c] / 16 · h[token, c]."""

    def __init__(self, returns="tensor"):
        super().__init__()
        torch.manual_seed(0)
        self.returns = returns
        self.embed = nn.Conv2d(3, C, 4, stride=4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, C))
        self.layer = Layer()
        self.head = nn.Linear(C, K)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        h = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], 1)
        h, _ = self.layer(h)
        logits = self.head(h[:, 1:].mean(1))
        if self.returns == "tuple":
            return logits, h
        if self.returns == "dict":
            return {"logits": logits, "hidden_states": h}
        if self.returns == "object":
            return type("Output", (), {"logits": logits, "hidden": h})()
        if self.returns == "model_output":
            return ModelOutput(logits=logits, hidden_states=(h,))
        return logits


def bundle_of(net, multi_label=False):
    return ModelBundle(net, preprocess=Preprocess(crop=(16, 16), resize=None), multi_label=multi_label)


X = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("returns", ["tensor", "tuple", "dict", "object", "model_output"])
def test_every_output_form_gives_the_known_gradcam(returns):
    bundle = bundle_of(TokenNet(returns))
    ctx = MethodContext(bundle, X, ClassTarget(2), layer="layer", cache=CaptureCache())
    out = get_method("gradcam")(ctx, relu=False)
    with torch.no_grad():
        net = bundle.net
        tokens = net.embed(X).flatten(2).transpose(1, 2)
        h = net.layer(torch.cat([net.cls_token, tokens], 1))[0][0, 1:]  # the 16 patch tokens
        expected = (h @ net.head.weight[2] / GRID ** 2).view(GRID, GRID)
    assert out.low_res.shape == (GRID, GRID)
    assert torch.allclose(out.low_res, expected, atol=1e-6)
    assert bundle.predict(X)[0][0] == int(torch.argmax(TokenNet("tensor")(X)))


def test_a_tuple_returning_layer_keeps_its_other_outputs():
    bundle = bundle_of(TokenNet("model_output"))
    cap = capture(bundle, X, ClassTarget(0), ["layer"])
    assert cap.activations["layer"].shape == (1, 1 + GRID ** 2, C)
    assert torch.allclose(cap.logits, TokenNet("tensor")(X), atol=1e-6)  # the forward is unchanged


class MultiLabel(nn.Module):
    """z = W · flatten(x) + b: each class an independent yes/no (sigmoid) output."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.fc = nn.Linear(3 * 8 * 8, 4)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_sigmoid_target_has_the_analytic_gradient():
    bundle = bundle_of(MultiLabel(), multi_label=True)
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    z = bundle.net(x)[0].detach()
    for c in range(4):
        cap = capture(bundle, x, ClassTarget(c, "sigmoid"), input_grad=True)
        s = torch.sigmoid(z[c])
        assert float(cap.score) == pytest.approx(float(s), rel=1e-6)
        expected = (s * (1 - s) * bundle.net.fc.weight[c]).view(1, 3, 8, 8)  # dσ(z)/dx = σ(1−σ)·W_c
        assert torch.allclose(cap.input_grad, expected, atol=1e-7)
    assert "sigmoid" in CLASS_KINDS and ClassTarget(1, "sigmoid").describe("cat") == "sigmoid of class 1 (cat)"


def test_multi_label_predictions_are_sigmoid_probabilities():
    bundle = bundle_of(MultiLabel(), multi_label=True)
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    top = bundle.predict(x, k=4)
    probs = torch.sigmoid(bundle.net(x)[0]).detach()
    assert [i for i, _, _ in top] == torch.argsort(probs, descending=True).tolist()
    assert [p for _, _, p in top] == pytest.approx(sorted(probs.tolist(), reverse=True))
    assert bundle.class_kind == "sigmoid"
    single = bundle_of(MultiLabel())
    assert sum(p for _, _, p in single.predict(x, k=4)) == pytest.approx(1.0)


def test_model_card_and_cli_for_a_multi_label_model(tmp_path, capsys):
    net = MultiLabel()
    path = tmp_path / "tagger.pt"
    torch.save(net, path)
    labels = ["sky", "tree", "road", "car"]
    (tmp_path / "tagger.json").write_text(json.dumps({"input_size": 8, "multi_label": True, "labels": labels}))
    bundle = load_model(str(path), trust=True)
    assert bundle.multi_label and bundle.labels == labels
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    explainer = Explainer(bundle, image)
    probs = torch.sigmoid(bundle(explainer.x).detach())[0]
    assert explainer.prediction[0][2] == pytest.approx(float(probs.max()), rel=1e-6)

    import cv2

    cv2.imwrite(str(tmp_path / "img.png"), image[..., ::-1])
    out = tmp_path / "r.json"
    assert main(["explain", "--model", str(path), "--trust", "--image", str(tmp_path / "img.png"),
                 "--method", "saliency", "--target", "road", "--json", str(out)]) == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["target"]["kind"] == "sigmoid" and result["target"]["index"] == 2  # the card's head
    assert sum(p["probability"] for p in result["prediction"]) > 1.0  # independent yes/no probabilities
    (tmp_path / "tagger.json").write_text(json.dumps({"input_size": 8, "labels": labels}))
    assert main(["explain", "--model", str(path), "--trust", "--image", str(tmp_path / "img.png"),
                 "--method", "saliency", "--target-kind", "sigmoid", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["target"]["kind"] == "sigmoid"
    assert [p["probability"] for p in result["prediction"]] == pytest.approx(
        sorted(torch.sigmoid(bundle(explainer.x))[0].tolist(), reverse=True), rel=1e-5)


def test_metrics_and_score_cam_read_sigmoid_probabilities_of_a_multi_label_head():
    """The class probability a metric or Score-CAM reads is σ(z_c) for a multi-label head, not a
    softmax across classes (known answer on the linear tagger: the unperturbed image's point)."""
    from core.metrics.common import class_probabilities
    from core.metrics.faithfulness import deletion_and_insertion

    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    tagger, single = bundle_of(MultiLabel(), multi_label=True), bundle_of(MultiLabel())
    z = tagger.net(x)[0].detach()
    for c in range(4):
        got = class_probabilities(tagger, lambda a, b: x.repeat(b - a, 1, 1, 1), 2, c)
        assert got == pytest.approx([float(torch.sigmoid(z[c]))] * 2, rel=1e-6)
        soft = class_probabilities(single, lambda a, b: x.repeat(b - a, 1, 1, 1), 1, c)
        assert soft[0] == pytest.approx(float(torch.softmax(z, 0)[c]), rel=1e-6)
    curves = deletion_and_insertion(tagger, x, torch.rand(8, 8).numpy(), ("deletion",), target=1)
    assert curves["deletion"].curve[1][0] == pytest.approx(float(torch.sigmoid(z[1])), rel=1e-5)
