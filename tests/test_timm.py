"""timm models (random init, tiny inputs; nothing downloads): loading, preprocessing from the
model's own config, default layers per family, detected layouts, agreement with pytorch-grad-cam
given the right reshape, and the same Swin by name and from files."""

import numpy as np
import pytest
import torch

timm = pytest.importorskip("timm")

from pytorch_grad_cam import GradCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

from core.capture import CaptureCache  # noqa: E402
from core.cli import main  # noqa: E402
from core.layers import default_layer, layer_table  # noqa: E402
from core.methods import MethodContext, get_method  # noqa: E402
from core.models import ModelLoadError, Preprocess, load_model  # noqa: E402
from core.targets import ClassTarget, UnitTarget  # noqa: E402

TARGET = 3
SMALL = Preprocess(crop=(64, 64), resize=None)
SWIN = dict(img_size=64, window_size=4, embed_dim=24, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))
VIT = dict(img_size=64)


def pearson(a, b):
    a = torch.as_tensor(np.asarray(a, dtype=np.float64)).flatten()
    b = torch.as_tensor(np.asarray(b, dtype=np.float64)).flatten()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def x_of(seed=1):
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def ours(bundle, x, layer, method="gradcam", target=None, **params):
    ctx = MethodContext(bundle, x, target or ClassTarget(TARGET), layer=layer, cache=CaptureCache())
    return get_method(method)(ctx, **params)


def peer(net, module, x, reshape=None):
    with GradCAM(model=net, target_layers=[module], reshape_transform=reshape) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(TARGET)])[0]


def tokens_to_grid(prefix, side):
    """pytorch-grad-cam's reshape_transform for a ViT: drop the prefix tokens, fold the grid."""
    return lambda t: t[:, prefix:].reshape(t.shape[0], side, side, t.shape[2]).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def timm_model():
    cache = {}

    def get(spec, options=None):
        key = (spec, repr(options))
        if key not in cache:
            cache[key] = load_model(spec, "none", options=options, preprocess=SMALL)
        return cache[key]

    return get


def test_preprocessing_from_the_pretrained_config():
    bundle = load_model("timm:resnet10t", "none")
    pre = bundle.preprocess  # resnet10t.c3_in1k: 176 px, crop_pct 0.875, bicubic, ImageNet mean/std
    assert pre.crop == (176, 176) and pre.resize == 201 and pre.interpolation == "bicubic"
    assert pre.mean == (0.485, 0.456, 0.406) and pre.std == (0.229, 0.224, 0.225)
    assert bundle.labels[0] == "tench" and len(bundle.labels) == 1000 and bundle.source == "random init"
    vit = load_model("timm:vit_tiny_patch16_224", "none", options=VIT)
    assert vit.preprocess.crop == (64, 64) and vit.preprocess.mean == (0.5, 0.5, 0.5)  # img_size wins
    assert vit.preprocess.resize == 71  # ⌊64 / 0.9⌋


@pytest.mark.parametrize("spec,options,layer,layout", [
    ("timm:resnet10t", None, "layer4", "nchw"),
    ("timm:convnext_atto", None, "stages", "nchw"),
    ("timm:efficientnet_b0", None, "bn2", "nchw"),
    ("timm:vit_tiny_patch16_224", VIT, "blocks.11.norm1", "tokens"),
    ("timm:deit_tiny_distilled_patch16_224", VIT, "blocks.11.norm1", "tokens"),
    ("timm:swin_tiny_patch4_window7_224", SWIN, "layers", "nhwc"),
])
def test_default_layer_and_layout_per_family(timm_model, spec, options, layer, layout):
    bundle = timm_model(spec, options)
    table = {i.name: i for i in layer_table(bundle)}
    assert default_layer(bundle) == layer and table[layer].layout.kind == layout
    if layout == "tokens":  # class token (+ distillation token for DeiT-distilled), 4×4 patches
        assert table[layer].layout.prefix == (2 if "distilled" in spec else 1)
        assert table[layer].layout.grid == (4, 4) and table[layer].layout.source == "config"
    if layout == "nhwc":  # Swin stages are channels-last; its patch-embedding conv is not
        assert table["patch_embed.proj"].layout.kind == "nchw" and table["layers.3"].layout.grid == (2, 2)


def test_gradcam_on_convnext_agrees_with_pytorch_grad_cam(timm_model):
    bundle = timm_model("timm:convnext_atto")
    x = x_of()
    mine = ours(bundle, x, "stages.3", relu=True)
    theirs = peer(bundle.net, bundle.net.stages[-1], x)
    assert pearson(mine.map.numpy(), theirs) >= 0.999


@pytest.mark.parametrize("spec,prefix", [("timm:vit_tiny_patch16_224", 1),
                                         ("timm:deit_tiny_distilled_patch16_224", 2)])
def test_gradcam_on_vit_agrees_with_pytorch_grad_cam_given_the_reshape(timm_model, spec, prefix):
    bundle = timm_model(spec, VIT)
    x = x_of()
    mine = ours(bundle, x, "blocks.11.norm1", relu=True)
    theirs = peer(bundle.net, bundle.net.blocks[-1].norm1, x, tokens_to_grid(prefix, 4))
    assert mine.low_res.shape == (4, 4)
    assert pearson(mine.map.numpy(), theirs) >= 0.999


def test_swin_by_name_and_from_files_gives_the_same_map(timm_model, tmp_path):
    from safetensors.torch import save_file

    by_name = timm_model("timm:swin_tiny_patch4_window7_224", SWIN)
    pickled = tmp_path / "my_classifier.pt"  # the file's name says nothing about Swin
    torch.save(by_name.net, pickled)
    from_pickle = load_model(str(pickled), trust=True, preprocess=SMALL)
    weights = tmp_path / "weights.safetensors"
    save_file(by_name.net.state_dict(), str(weights))
    from_weights = load_model("timm:swin_tiny_patch4_window7_224", str(weights), options=SWIN, preprocess=SMALL)
    x = x_of(2)
    reference = ours(by_name, x, default_layer(by_name))
    assert reference.low_res.shape == (2, 2)
    for other in (from_pickle, from_weights):
        assert default_layer(other) == "layers"
        out = ours(other, x, "layers")
        assert torch.allclose(out.map, reference.map, atol=1e-6 * float(reference.map.abs().max()) + 1e-9)
    # A channels-last unit is read on its channel axis (occlusion uses the same target score).
    unit = UnitTarget("layers.3", 5)
    occluded = ours(from_pickle, x, None, "occlusion", target=unit, window=32, stride=32, fill="mean",
                    progressive=False, batch_size=0)
    stage = {}
    handle = from_pickle.net.layers[3].register_forward_hook(lambda m, i, o: stage.setdefault("out", o))
    with torch.no_grad():
        from_pickle.net(x)
    handle.remove()
    assert stage["out"].shape == (1, 2, 2, 192)
    assert occluded.info["score"] == pytest.approx(float(stage["out"][0, :, :, 5].mean()), rel=1e-5)


def test_unknown_name_and_bad_weights_are_one_line():
    with pytest.raises(ModelLoadError, match="unknown timm model 'convnext_nope'"):
        load_model("timm:convnext_nope", "none")
    with pytest.raises(ModelLoadError, match="DEFAULT, none or a state-dict file"):
        load_model("timm:resnet10t", "IMAGENET1K_V1")


def test_offline_default_weights_name_the_file_and_folder(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no request may leave the machine
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelLoadError) as info:
        load_model("timm:resnet10t", "DEFAULT")
    message = str(info.value)
    assert "\n" not in message and "--weights FILE" in message and "weights none" in message
    assert "https://huggingface.co/timm/resnet10t.c3_in1k" in message
    assert str(tmp_path / "hub" / "models--timm--resnet10t.c3_in1k") in message


def test_models_command_lists_timm_families(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "timm models," in out and "convnext (" in out and "vit (" in out and "timm:NAME" in out


def test_model_browser_searches_timm(qtbot):
    from desktop.model_browser import ModelBrowser

    browser = ModelBrowser()
    qtbot.addWidget(browser)
    browser.populate()
    assert browser.model.findText("resnet18") >= 0 and browser.model.findText("timm:convnext_atto") < 0
    browser.find.setText("convnext atto")  # every word must appear in the name
    names = [browser.model.itemText(i) for i in range(browser.model.count())]
    assert "timm:convnext_atto" in names and all("convnext" in n and "atto" in n for n in names)
    browser.model.setCurrentText("timm:convnext_atto")
    browser.weights.setCurrentText("none")
    with qtbot.waitSignal(browser.load_requested, timeout=5000) as blocker:
        browser._load_selected()
    assert blocker.args == ["timm:convnext_atto", "none", False]
    browser.find.setText("")
    assert browser.model.findText("resnet18") >= 0 and browser.model.findText("timm:convnext_atto") < 0
