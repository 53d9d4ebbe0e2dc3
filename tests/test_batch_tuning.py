"""Batch sizes measured on the job's own batches (core.batch_tuning): the fastest candidate on a
fake clock, every input exactly once, the cache keyed by device and torch version, and maps that
do not depend on the batch size."""

import torch

from core import batch_tuning
from core.batch_tuning import BatchSizeCache, TuneKey
from core.batching import default_batch_size, run_batches
from core.methods import MethodContext, get_method
from core.targets import ClassTarget

# seconds per input at each candidate size: fastest at 8, then slower again
COST = {1: 10.0, 2: 6.0, 4: 4.0, 8: 3.0, 16: 3.6, 32: 5.0}


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def fake_job(clock, seen, calls, oom_from=None):
    def fn(start, stop):
        size = stop - start
        calls.append(size)
        if oom_from is not None and size >= oom_from:
            raise RuntimeError("CUDA out of memory (fake)")
        clock.now += COST.get(size, 20.0) * size
        seen.extend(range(start, stop))
    return fn


def key(**kw):
    return TuneKey(**{"model": "Net:100", "shape": (3, 32, 32), "device": "cpu", "backward": False, **kw})


def test_picks_fastest_candidate_on_fake_clock_and_covers_every_item_once(tmp_path):
    clock, seen, calls = FakeClock(), [], []
    cache = BatchSizeCache(tmp_path / "sizes.json")
    best = run_batches(300, 0, fake_job(clock, seen, calls), tune=key(), cache=cache, clock=clock)
    assert best == 8
    assert sorted(seen) == list(range(300))
    # each size warmed, then timed, until 16 is slower, which is timed once more to be sure
    assert calls[:11] == [1, 1, 2, 2, 4, 4, 8, 8, 16, 16, 16]
    assert set(calls[11:-1]) == {8}
    assert cache.get(key()) == 8


def test_one_slow_batch_does_not_end_the_search(tmp_path):
    """Another program busy for one batch of 2 makes it look slower than batch 1; timed again it is
    not, and the search goes on to the true fastest size."""
    clock, seen, calls = FakeClock(), [], []
    job = fake_job(clock, seen, calls)
    slow_once = iter([False, True])  # batch 2: warm-up, then one slow timed run

    def busy(start, stop):
        job(start, stop)
        if stop - start == 2 and next(slow_once, False):
            clock.now += 100.0

    cache = BatchSizeCache(tmp_path / "sizes.json")
    assert run_batches(300, 0, busy, tune=key(), cache=cache, clock=clock) == 8
    assert calls[:5] == [1, 1, 2, 2, 2] and sorted(seen) == list(range(300))
    assert cache.get(key()) == 8


def test_cached_size_is_used_from_the_first_batch(tmp_path):
    cache = BatchSizeCache(tmp_path / "sizes.json")
    cache.put(key(), 4, {4: 0.01})
    clock, seen, calls = FakeClock(), [], []
    run_batches(20, 0, fake_job(clock, seen, calls), tune=key(), cache=cache, clock=clock)
    assert calls == [4] * 5 and sorted(seen) == list(range(20))


def test_cache_misses_on_another_device_or_torch_version(tmp_path):
    cache = BatchSizeCache(tmp_path / "sizes.json")
    cache.put(key(), 8, {8: 0.01})
    assert cache.get(key()) == 8
    assert cache.get(key(device="NVIDIA H100 80GB HBM3")) is None
    assert cache.get(key(torch_version="0.0.1")) is None
    assert cache.get(key(backward=True)) is None
    assert cache.get(key(shape=(3, 64, 64))) is None


def test_entries_of_another_torch_version_are_dropped(tmp_path):
    path = tmp_path / "sizes.json"
    path.write_text('{"Net:1|3x8x8|cpu|fwd|torch 0.0.1": {"batch_size": 2}}')
    cache = BatchSizeCache(path)
    cache.put(key(), 8, {8: 0.01})
    assert "torch 0.0.1" not in path.read_text()


def test_sizes_found_by_an_older_search_rule_are_measured_again(tmp_path):
    path = tmp_path / "sizes.json"
    old_token = key().token().rsplit("|search", 1)[0]  # how the first search rule keyed its sizes
    path.write_text(f'{{"{old_token}": {{"batch_size": 1}}}}')
    cache = BatchSizeCache(path)
    assert cache.get(key()) is None
    cache.put(key(), 8, {8: 0.01})
    assert old_token + '"' not in path.read_text() and cache.get(key()) == 8


def test_out_of_memory_during_the_search_caps_the_candidates(tmp_path):
    clock, seen, calls = FakeClock(), [], []
    cache = BatchSizeCache(tmp_path / "sizes.json")
    best = run_batches(200, 0, fake_job(clock, seen, calls, oom_from=4), tune=key(), cache=cache, clock=clock)
    assert best == 2 and sorted(seen) == list(range(200))
    assert max(calls) == 4 and calls.count(4) == 1  # failed once, never tried again


def test_short_job_or_switched_off_uses_the_table(tmp_path, monkeypatch):
    cache = BatchSizeCache(tmp_path / "sizes.json")
    clock, seen, calls = FakeClock(), [], []
    run_batches(100, 0, fake_job(clock, seen, calls), tune=key(), cache=cache, clock=clock)
    assert calls == [32, 32, 32, 4] and cache.get(key()) is None
    monkeypatch.setenv(batch_tuning.ENV_SWITCH, "0")
    calls.clear()
    run_batches(300, 0, fake_job(clock, [], calls), tune=key(), cache=cache, clock=clock)
    assert set(calls[:-1]) == {default_batch_size("cpu", backward=False)}


def test_maps_do_not_depend_on_the_batch_size(zoo, tmp_path, monkeypatch):
    """Occlusion and RISE on a model with eval-mode BatchNorm: batch 1, 7, 32 and tuned agree."""
    monkeypatch.setattr(batch_tuning, "DEFAULT_CACHE", BatchSizeCache(tmp_path / "sizes.json"))
    bundle = zoo("resnet18")
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    maps = {}
    for bs in (1, 7, 32, 0):
        for name, params in (("occlusion", {"window": 8, "stride": 4, "progressive": False}),
                             ("rise", {"masks": 96, "grid": 4})):
            ctx = MethodContext(bundle, x, ClassTarget(1))
            maps[name, bs] = get_method(name)(ctx, batch_size=bs, **params).map
    for name in ("occlusion", "rise"):
        for bs in (7, 32, 0):
            assert torch.allclose(maps[name, 1], maps[name, bs], atol=1e-5, rtol=1e-4), (name, bs)
    assert batch_tuning.DEFAULT_CACHE.get(
        batch_tuning.tune_key(bundle, x.shape[1:], backward=False)) is not None  # the tuned run measured
