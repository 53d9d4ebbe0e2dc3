"""A long session stays healthy: models loaded in turn (zoo, demo, timm, files) and explained with
many times keep resident memory bounded, leave no hook behind and are freed once replaced.
Scaled to seconds here (tiny inputs); bench/bench_health.py runs the full 20 models × 500
explanations."""

import numpy as np
import pytest
import torch

from core.health import hooks_left, soak
from core.models import Preprocess, load_model

SMALL = Preprocess(crop=(48, 48), resize=None)
IMAGE = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Five kinds of model: bundled demo, torchvision zoo, timm by name, a pickled file, a timm
    architecture with a safetensors state dict (the last two when timm / safetensors are installed)."""
    folder = tmp_path_factory.mktemp("models")
    pickled = folder / "demo_copy.pt"
    torch.save(load_model("demo").net, pickled)
    found = [dict(spec="demo"), dict(spec="resnet18", weights="none", preprocess=SMALL),
             dict(spec=str(pickled), trust=True)]
    try:
        import timm
        from safetensors.torch import save_file
    except ImportError:
        return found
    save_file(timm.create_model("resnet10t", num_classes=1000).state_dict(), str(folder / "r10t.safetensors"))
    return found + [dict(spec="timm:resnet10t", weights="none", preprocess=SMALL),
                    dict(spec="timm:resnet10t", weights=str(folder / "r10t.safetensors"), preprocess=SMALL)]


def test_models_in_turn_stay_bounded_hookless_and_freed(sources):
    report = soak(sources, IMAGE, cycles=3, per_model=6)
    assert report.models == 3 * len(sources) and report.explanations == 6 * report.models
    assert report.hooks == []
    assert report.not_freed == []
    if report.growth is not None:  # Linux: resident memory after the last cycle vs after the first
        assert report.growth <= 1.10, [r / 2 ** 20 for r in report.rss]


def test_the_checks_catch_a_leak(sources):
    kept = []
    report = soak(sources[:1], IMAGE, cycles=1, per_model=1, on_model=kept.append)
    assert report.not_freed == ["demo"]  # a model someone still holds is reported
    net = kept[0].net
    handle = net.features.register_forward_hook(lambda *a: None)
    try:
        assert any("features._forward_hooks" in h for h in hooks_left(net))
    finally:
        handle.remove()
    assert hooks_left(net) == []
