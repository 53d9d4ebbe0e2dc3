"""Occlusion and RISE: Captum agreement, known answers on a toy model, progressive and cancel."""

import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from core.jobs import Cancelled, Progress
from core.methods import MethodContext, get_method
from core.methods.perturbation import RiseMasks, fill_image
from core.models import ModelBundle, Preprocess
from core.targets import ClassTarget


class RegionSum(nn.Module):
    """Class 0 score = mean of the first channel inside rows 20..31, cols 8..19 of a 40×40 input
    (logits ±mean: the softmax stays far from saturation, as RISE needs)."""

    def forward(self, x):
        s = 4 * (x[:, 0, 20:32, 8:20].mean((1, 2)) - 0.5)
        return torch.stack([s, -s], 1)


@pytest.fixture
def region():
    pre = Preprocess(crop=(40, 40), resize=None, mean=(0.0,) * 3, std=(1.0,) * 3)
    bundle = ModelBundle(RegionSum(), preprocess=pre, labels=["in", "out"])
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0)) + 0.5
    return bundle, x


def run(bundle, x, method, target=0, **params):
    return get_method(method)(MethodContext(bundle, x, ClassTarget(target)), **params)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
@pytest.mark.parametrize("fill", ["mean", "zeros"])
def test_occlusion_equals_captum(zoo, name, fill):
    bundle = zoo(name)
    x = torch.randn(1, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    ours = run(bundle, x, "occlusion", target=5, window=12, stride=6, fill=fill, batch_size=7)
    baseline = fill_image(bundle, x, fill)
    theirs = Occlusion(bundle.net).attribute(x, sliding_window_shapes=(3, 12, 12), strides=(3, 6, 6),
                                              baselines=baseline, target=5, perturbations_per_eval=16)
    # Captum attributes the same mean drop to every channel; our map is that per-pixel value.
    expected = theirs[0, 0]
    # Our batched passes fold BatchNorm into the convolutions: equal up to float rounding of the logits.
    assert torch.allclose(torch.as_tensor(ours.map), expected, rtol=1e-4, atol=2e-5)


def test_occlusion_peaks_on_the_region(region):
    bundle, x = region
    out = run(bundle, x, "occlusion", window=6, stride=2, fill="zeros")
    m = torch.as_tensor(out.map)
    inside = m[20:32, 8:20].mean()
    assert inside > 5 * m[:, 26:].abs().mean()
    y, xx = divmod(int(m.argmax()), 40)
    assert 18 <= y <= 33 and 6 <= xx <= 21


def test_occlusion_progressive_partial_then_final(region):
    bundle, x = region
    seen = []
    ctx = MethodContext(bundle, x, ClassTarget(0), partial=lambda out: seen.append(out))
    final = get_method("occlusion")(ctx, window=8, stride=4, fill="zeros", batch_size=5)
    assert len(seen) == 1 and seen[0].info["stage"] == "coarse"
    unprogressive = run(bundle, x, "occlusion", window=8, stride=4, fill="zeros", progressive=False)
    assert torch.allclose(final.map, unprogressive.map, atol=1e-5)  # same windows, other order


def test_rise_peaks_on_the_region_and_is_seeded(region):
    bundle, x = region
    a = run(bundle, x, "rise", masks=600, grid=5, batch_size=64)
    m = torch.as_tensor(a.map)
    assert m[20:32, 8:20].mean() > m[:, 26:].mean() + 3 * m[:, 26:].std()
    b = run(bundle, x, "rise", masks=600, grid=5, batch_size=50)
    assert torch.allclose(a.map, b.map, atol=1e-5), "batching changed the masks"
    c = get_method("rise")(MethodContext(bundle, x, ClassTarget(0), seed=1), masks=600, grid=5)
    assert not torch.allclose(a.map, c.map)


def test_rise_all_classes_equal_one_at_a_time(zoo):
    bundle = zoo("resnet18")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    out = run(bundle, x, "rise", target=3, masks=40, grid=4)
    maps = out.extras["class_maps"]
    assert maps.shape == (1000, 32, 32)
    gen = RiseMasks(40, 4, 0.5, (32, 32), 0)
    masks = gen.batch(0, 40, "cpu")
    with torch.no_grad():
        probs = torch.softmax(bundle(x * masks), 1)
    for k in (3, 17, 999):
        one = (probs[:, k].view(-1, 1, 1, 1) * masks).sum(0)[0] / (40 * 0.5)
        assert torch.allclose(maps[k], one, atol=1e-6)
    assert torch.equal(out.map, maps[3])


def test_rise_partial_estimates(region):
    bundle, x = region
    seen = []
    ctx = MethodContext(bundle, x, ClassTarget(0), partial=seen.append)
    get_method("rise")(ctx, masks=100, batch_size=25)
    assert [s.info["masks_done"] for s in seen] == [25, 50, 75, 100]


@pytest.mark.parametrize("method,params", [("occlusion", {"window": 4, "stride": 1}), ("rise", {"masks": 400})])
def test_cancel_stops_within_one_batch(region, method, params):
    bundle, x = region
    calls = []
    progress = Progress()

    def report(done, total, msg):
        calls.append(done)
        if len(calls) == 2:
            progress.cancel()

    progress._callback = report
    batches = []
    hook = bundle.net.register_forward_pre_hook(lambda m, i: batches.append(1))
    try:
        with pytest.raises(Cancelled):
            get_method(method)(MethodContext(bundle, x, ClassTarget(0), progress=progress), batch_size=10, **params)
    finally:
        hook.remove()
    assert len(batches) <= 4  # (a reference forward,) two batches, and at most one more
