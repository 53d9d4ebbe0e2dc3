"""Drag-to-occlude on the incremental engine (Krypton, Nakandala et al. 2019): each probe equals the
plain forward's answer on ResNet, VGG-style and MobileNet-style models for boxes anywhere (edges,
corners, clipped, the whole image), the model is traced and run in full once per Occluder, and
models or boxes it cannot speed up fall back to the plain forward, saying why."""

import pytest
import torch
from test_incremental_occlusion import MODELS, Branchy, EarlyGlobal, bundle_of

from core.diagnose.occlude import Occluder
from core.methods import incremental
from core.methods.incremental import IncrementalOcclusion
from core.models import ModelBundle, Preprocess, load_model
from core.targets import ClassTarget


def _bundle(name):
    torch.manual_seed(0)
    if name == "resnet18":  # the zoo's model as the GUI loads it (1000 classes), at 96 px
        return load_model("resnet18", weights="none"), 96
    return bundle_of(MODELS[name]()), 64


def _boxes(s):
    """(x0, y0, x1, y1): inside, corner, edge strip, off-square rectangle, overhanging two edges,
    overhanging all four (the whole image), empty."""
    return [(s // 2 - 8, s // 2 - 5, s // 2 + 8, s // 2 + 11), (0, 0, 12, 12), (s - 10, s - 10, s, s),
            (0, 20, s // 3, 27), (s - 12, 3, s + 15, 40), (-7, s - 9, 20, s + 30), (-5, -5, s + 5, s + 5),
            (30, 30, 30, 41)]


def _same(a, b):
    assert [i for i, _, _ in a.top] == [i for i, _, _ in b.top], (a.top, b.top)
    torch.testing.assert_close([p for _, _, p in a.top], [p for _, _, p in b.top], atol=1e-5, rtol=0)
    assert a.target_probability == pytest.approx(b.target_probability, abs=1e-5)
    assert a.box == b.box


@pytest.mark.parametrize("name", ["resnet18", "vgg_chain", "mobilenet_v2"])
def test_probes_equal_the_plain_forward(name):
    bundle, s = _bundle(name)
    x = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(2))
    fast, plain = Occluder(bundle, x, "grey"), Occluder(bundle, x, "grey", incremental="off")
    assert fast.path == "incremental" and fast.reason == ""
    assert plain.path == "plain" and "off" in plain.reason
    unoccluded = plain.probe((0, 0, 0, 0), 0)
    target = unoccluded.top[1][0]  # the runner-up class: its probability moves
    paths = []
    for box in _boxes(s):
        a, b = fast.probe(box, target), plain.probe(box, target)
        _same(a, b)
        if box[0] != box[2]:  # the patch changes the answer by far more than the tolerance
            assert [i for i, _, _ in b.top] != [i for i, _, _ in unoccluded.top] or max(
                abs(p - q) for (_, _, p), (_, _, q) in zip(b.top, unoccluded.top)) > 2e-5
        assert b.path == "plain" and a.path == fast.path
        paths.append((a.path, fast.reason))
    assert [p for p, _ in paths[:6]] == ["incremental"] * 6  # inside or at the edges: only their regions
    assert paths[6][0] == "plain" and "save little" in paths[6][1]  # the whole image: nothing to save
    assert paths[7] == ("incremental", "")  # and back again (an empty box: the unoccluded image)


def test_traced_and_run_once_per_occluder(monkeypatch):
    traces, full_runs = [], []
    trace, run_full = incremental.trace, IncrementalOcclusion._run_full
    monkeypatch.setattr(incremental, "trace", lambda net: traces.append(net) or trace(net))
    monkeypatch.setattr(IncrementalOcclusion, "_run_full", lambda self, x: full_runs.append(x) or run_full(self, x))
    bundle, s = _bundle("vgg_chain")
    x = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(0))
    occ = Occluder(bundle, x, "mean")
    probes = [occ.probe(box, 1) for box in _boxes(s)]
    assert len(traces) == 1 and len(full_runs) == 1
    assert sum(p.path == "incremental" for p in probes) >= 6
    Occluder(bundle, x, "black")
    assert len(traces) == 2  # a new Occluder (another image or fill) traces again, once


def test_dry_walk_counts_what_the_real_walk_does():
    """``estimate`` follows the same graph walk without arithmetic: the same work, layer by layer."""
    bundle, s = _bundle("mobilenet_v2")
    x = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(0))
    real = IncrementalOcclusion(bundle, x, ClassTarget(0), 16, max_work=1.0)
    dry = real.estimate([(24, 24, 40, 40)])  # the square the constructor ran, centred
    assert dry.pixels == real.count.pixels and dry.macs == real.count.macs
    assert dry.first_full.lstrip("!") == real.count.first_full and 0 < dry.mac_fraction < 1


@pytest.mark.parametrize("net,reason,at_start", [(Branchy(), "cannot be traced", True),
                                                 (EarlyGlobal(), "mixes the whole map", False)])
def test_models_it_cannot_follow_run_plainly_and_say_why(net, reason, at_start):
    bundle = ModelBundle(net, preprocess=Preprocess(crop=(32, 32), resize=None))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    occ, plain = Occluder(bundle, x, "grey"), Occluder(bundle, x, "grey", incremental="off")
    assert (occ.path == "plain" and reason in occ.reason) == at_start
    box = (4, 4, 12, 12)
    a = occ.probe(box, 1)
    assert a.path == occ.path == "plain" and reason in occ.reason
    _same(a, plain.probe(box, 1))


def test_an_engine_failure_falls_back_for_good(monkeypatch):
    bundle, s = _bundle("vgg_chain")
    x = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(0))
    occ, plain = Occluder(bundle, x, "grey"), Occluder(bundle, x, "grey", incremental="off")

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(occ.engine, "logits", broken)
    box = (10, 10, 26, 26)
    _same(occ.probe(box, 2), plain.probe(box, 2))
    assert occ.path == "plain" and "failed (RuntimeError: boom)" in occ.reason and occ.engine is None


def test_changing_the_fill_keeps_the_trace_and_the_unoccluded_pass(monkeypatch):
    bundle, s = _bundle("vgg_chain")
    x = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(5))
    grey = Occluder(bundle, x, "grey")
    traces = []
    monkeypatch.setattr(incremental, "trace", lambda net, f=incremental.trace: traces.append(net) or f(net))
    black = grey.with_fill("black")
    assert black.engine is grey.engine and traces == [], "no new trace for a new fill"
    box = (10, 12, 30, 28)
    _same(black.probe(box, 0), Occluder(bundle, x, "black", incremental="off").probe(box, 0))
    _same(grey.probe(box, 0), Occluder(bundle, x, "grey", incremental="off").probe(box, 0))
    assert black.path == "incremental"
