"""Layer layouts found from the dry run and the model's configuration, never from its name."""

import torch
from torch import nn

from core.explain import Explainer
from core.layers import layer_table, layout_of
from core.layouts import Hints, Layout, infer_layout
from core.methods.cam import to_grid
from core.models import ModelBundle, Preprocess


def test_shapes_that_tell_the_layout():
    assert infer_layout((1, 64, 56, 56), (224, 224)) == Layout("nchw", (56, 56))
    assert infer_layout((1, 7, 7, 768), (224, 224)) == Layout("nhwc", (7, 7))
    assert infer_layout((1, 7, 5, 96), (224, 160)).kind == "nhwc"  # non-square input: 7×5 grid
    assert infer_layout((1, 96, 7, 5), (224, 160)).kind == "nchw"
    assert infer_layout((1, 197, 768), (224, 224)) == Layout("tokens", (14, 14), 1)
    assert infer_layout((1, 201, 192), (224, 224)) == Layout("tokens", (14, 14), 5)  # class + 4 registers
    assert infer_layout((1, 198, 192), (224, 224), hints=Hints(prefix=2)) == Layout("tokens", (14, 14), 2, "config")
    assert infer_layout((1, 98, 64), (224, 112)) == Layout("tokens", (14, 7), 0)  # aspect ratio of the input
    assert infer_layout((1, 1000), (224, 224)).kind == "flat"


def test_ties_are_broken_by_the_constant_input_then_the_config():
    tie = (1, 8, 8, 8)  # C equals both sides: the shape alone cannot tell
    assert infer_layout(tie, (64, 64), spread=(1.0, 1e-6)) == Layout("nchw", (8, 8), 0, "constant input")
    assert infer_layout(tie, (64, 64), spread=(1e-6, 1.0)) == Layout("nhwc", (8, 8), 0, "constant input")
    assert infer_layout(tie, (64, 64), spread=(1.0, 1.0), hints=Hints(nhwc=True)).kind == "nhwc"
    assert infer_layout(tie, (64, 64)).kind == "nchw"


class ChannelsLast(nn.Module):
    """A conv stem, then 8×8×8 channels-last blocks (C equals both sides), pooled to 3 classes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 8, 8, stride=8)
        self.block = nn.Sequential(nn.Linear(8, 8), nn.GELU())
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.block(self.stem(x).permute(0, 2, 3, 1))  # N×H×W×C
        return self.head(h.mean((1, 2)))


def test_a_channels_last_model_from_a_file_gets_its_axes(tmp_path):
    path = tmp_path / "anything.pt"  # nothing in the name says "channels last"
    torch.save(ChannelsLast(), path)
    bundle = ModelBundle(torch.load(path, weights_only=False), preprocess=Preprocess(crop=(64, 64), resize=None),
                         name="anything")
    table = {i.name: i for i in layer_table(bundle)}
    assert table["stem"].layout.kind == "nchw" and table["block"].layout.kind == "nhwc"
    assert table["block"].layout.source == "constant input"
    x = torch.randn(1, 3, 64, 64)
    out = Explainer.from_input(bundle, x, torch.zeros(64, 64, 3, dtype=torch.uint8).numpy()).explain(
        "gradcam", layer="block", params={"relu": False})
    h = bundle.net.block(bundle.net.stem(x).permute(0, 2, 3, 1))[0].detach()  # 8×8×8, channels last
    expected = (h * (bundle.net.head.weight[out.target.index] / 64)).sum(-1)
    assert torch.allclose(torch.as_tensor(out.low_res), expected, atol=1e-5)
    assert layout_of(bundle, "block#1").kind == "nhwc"


def test_to_grid_without_a_layout_reads_the_shape():
    swin_stage = torch.randn(2, 7, 7, 96)
    assert torch.equal(to_grid(swin_stage, "features.7", "a file name"), swin_stage.permute(0, 3, 1, 2))
    vit = torch.randn(1, 197, 16)
    assert to_grid(vit).shape == (1, 16, 14, 14)
    assert torch.equal(Layout("tokens", (14, 14), 1).to_grid(vit), to_grid(vit))
