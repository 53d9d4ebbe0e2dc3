"""Deletion / insertion of a dataset run batched across images (``core.workbench.faithfulness_batch``)
give the values of the one-image metric (``core.metrics.faithfulness``), in fewer network calls."""

import numpy as np
import pytest
import torch

from core import batch_tuning
from core.metrics import faithfulness as faith
from core.workbench.faithfulness_batch import CurveRequest, curves_many
from core.workbench.sources import read_source
from core.workbench.spec import RunOptions
from core.workbench.worker import Worker, WorkUnit

from conftest import ROOT
from toy_models import Linear, bundle_of

DEMO = ROOT / "resources" / "images" / "demo"


@pytest.fixture(scope="module")
def toy():
    """A linear classifier of 16×16 images: 17 copies per curve, so the test runs in moments."""
    return bundle_of(Linear(shape=(3, 16, 16), classes=4), size=(16, 16))


def test_batched_curves_equal_one_image_curves(toy):
    rng = np.random.default_rng(0)
    xs = [toy.prepare(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))[1] for _ in range(3)]
    maps = [rng.random((16, 16)).astype(np.float32) for _ in xs]
    maps[1][:8] = 0  # ties: broken in the seeded order in both paths
    requests = [CurveRequest(xs[0], maps[0], 0, ("deletion", "insertion"), "zeros", seed=5),
                CurveRequest(xs[1], maps[1], 3, ("deletion",), "blur", seed=5),
                CurveRequest(xs[2], maps[2], 2, ("insertion",), "zeros", seed=5)]
    batched = curves_many(toy, requests, batch_size=10)  # 10: batches mix the images
    for req, got in zip(requests, batched):
        one = faith.deletion_and_insertion(toy, req.x, req.map, req.modes, req.target, fill=req.fill, seed=5)
        assert set(got) == set(req.modes)
        for mode in req.modes:
            assert got[mode].value == pytest.approx(one[mode].value, abs=1e-5)
            np.testing.assert_allclose(got[mode].curve[1], one[mode].curve[1], atol=1e-5)


def test_worker_batches_curves_across_images_with_the_same_values(toy, monkeypatch):
    # the fixed batch table on both paths: a batch-size search (core.batch_tuning) would add calls
    monkeypatch.setenv(batch_tuning.ENV_SWITCH, "0")
    source = read_source(DEMO)
    units = [WorkUnit(item, ("saliency", "input_x_gradient")) for item in source.items[:4]]
    options = RunOptions(methods={"saliency": {}, "input_x_gradient": {}}, batch_size=4,
                         metrics={"deletion": {"fill": "zeros"}, "insertion": {}, "sparseness": {}})
    calls = {}
    values = {}
    for batched in (True, False):
        worker = Worker(toy, options)
        worker.batch_curves = batched
        counted = []
        original = toy.fast_logits
        toy.fast_logits = lambda b, f=original: counted.append(len(b)) or f(b)
        try:
            records, skipped = worker.process(units)
        finally:
            toy.fast_logits = original
        assert not skipped and len(records) == 4
        calls[batched] = len(counted)
        values[batched] = {(r.file, k): v[0] for r in records for k, v in r.values.items()}
    assert set(values[True]) == set(values[False])
    for key, value in values[False].items():
        assert values[True][key] == pytest.approx(value, abs=1e-5), key
    assert calls[True] < calls[False]  # shared batches: fewer network calls for the same 4 × 2 × 34 copies


def test_identical_copies_go_through_the_network_once():
    """The original image (deletion's first point, insertion's last) is scored once per request,
    and the all-zeros image (deletion's last point with fill "zeros") once for all requests:
    3 requests × 2 curves × 17 points = 102 copies, 98 distinct inputs, same values."""
    toy = bundle_of(Linear(shape=(3, 16, 16), classes=4), size=(16, 16))
    with torch.no_grad():  # class priors far apart: the shared all-zeros row must be read per class
        toy.net.fc.bias.copy_(torch.tensor([1.0, 0.0, -1.0, 2.0]))
    rng = np.random.default_rng(1)
    xs = [toy.prepare(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))[1] for _ in range(3)]
    maps = [rng.random((16, 16)).astype(np.float32) for _ in xs]
    requests = [CurveRequest(xs[0], maps[0], 0, fill="zeros"), CurveRequest(xs[1], maps[1], 3, fill="zeros"),
                CurveRequest(xs[2], maps[2], 1, fill="blur")]
    rows = []
    original = toy.fast_logits
    toy.fast_logits = lambda b, f=original: rows.append(len(b)) or f(b)
    try:
        batched = curves_many(toy, requests, batch_size=7)
    finally:
        toy.fast_logits = original
    assert sum(rows) == 33 + 32 + 33  # each 2 × 17 − 1 (original once); the second shares the zeros image
    assert [r["deletion"].details["forward_passes"] for r in batched] == [33, 33, 33]
    assert [r["insertion"].details["forward_passes_shared"] for r in batched] == [1, 1, 0]
    for req, got in zip(requests, batched):
        one = faith.deletion_and_insertion(toy, req.x, req.map, req.modes, req.target, fill=req.fill, seed=0)
        for mode in req.modes:
            np.testing.assert_allclose(got[mode].curve[1], one[mode].curve[1], atol=1e-5)
            assert got[mode].value == pytest.approx(one[mode].value, abs=1e-5)
    # the shared all-zeros row read at each request's own class: softmax(bias)[target]
    prior = torch.softmax(toy.net.fc.bias.detach(), 0)
    assert batched[0]["deletion"].curve[1][-1] == pytest.approx(float(prior[0]), abs=1e-6)
    assert batched[1]["deletion"].curve[1][-1] == pytest.approx(float(prior[3]), abs=1e-6)
