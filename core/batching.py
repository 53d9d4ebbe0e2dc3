"""Batch sizes per device (measured per model by ``core.batch_tuning``; this table is the
fallback), and running work in batches that halve on out-of-memory."""

from __future__ import annotations

from typing import Callable

import torch

from . import batch_tuning
from .batch_tuning import BatchSizeCache, TuneKey, tune_key
from .jobs import Progress

__all__ = ["BatchSizeCache", "TuneKey", "channels_last_call", "default_batch_size", "run_batches", "tune_key"]

# Measured, not maximised: on a 2-core CPU large batches buy little (resnet50: 32 ms/image
# at batch 1, 72 at 64 for forward; resnet18 forward+backward through the lean twin: 42.6 vs
# 42.3 ms/image at batch 8 vs 16 with 2 threads, 61.9 vs 61.0 with 1, at half the memory);
# on GPUs throughput keeps rising for a while.
_DEFAULTS = {"cpu": (8, 32), "cuda": (64, 128), "mps": (32, 64)}


def default_batch_size(device: torch.device | str, backward: bool = True) -> int:
    """A sensible batch size for ``device``: smaller when a backward pass is needed."""
    kind = torch.device(device).type
    grad_bs, fwd_bs = _DEFAULTS.get(kind, _DEFAULTS["cpu"])
    return grad_bs if backward else fwd_bs


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def run_batches(n: int, batch_size: int, fn: Callable[[int, int], None],
                progress: Progress | None = None, tune: TuneKey | None = None,
                cache: BatchSizeCache | None = None, clock: Callable[[], float] | None = None) -> int:
    """Call ``fn(start, stop)`` over ``range(n)`` in batches; halve the batch on OOM.

    ``batch_size`` > 0 is used as given. With ``batch_size`` 0 and a ``tune`` key, the size is the
    one measured for that key (``core.batch_tuning``), measured now on the job's first batches
    when none is cached and the job is long enough, else the device's table default.
    Returns the batch size that finally worked. ``progress.step`` is called per item done.
    """
    if batch_size and batch_size > 0:
        return _run_fixed(n, batch_size, fn, progress)
    if tune is None:
        raise ValueError("run_batches needs a batch size or a tuning key")
    fallback = default_batch_size(tune.device_type, tune.backward)
    if not batch_tuning.enabled():
        return _run_fixed(n, fallback, fn, progress)
    cache = cache or batch_tuning.DEFAULT_CACHE
    known = cache.get(tune)
    if known:
        return _run_fixed(n, known, fn, progress)
    search = batch_tuning.Search.start(tune)
    if n < search.needs():  # too short to measure: the table
        return _run_fixed(n, fallback, fn, progress)
    return _run_tuned(n, fn, progress, search, cache, clock or batch_tuning.clock)


def _run_tuned(n, fn, progress, search: batch_tuning.Search, cache, clock) -> int:
    """Each candidate runs twice on real batches: the first call at a new size carries one-time
    costs (kernel selection, allocations: 5x on a GPU here) and is not timed."""
    start, warmed = 0, set()
    while start < n and not search.done:
        size = search.next_size()
        stop = min(start + size, n)
        t0 = clock()
        try:
            fn(start, stop)
            batch_tuning.synchronize(search.key.device_type)
        except (RuntimeError, torch.OutOfMemoryError) as exc:
            if not _is_oom(exc) or size == 1:
                raise
            search.cap(size)
            _free_cached_memory()
            continue
        if stop - start == size:
            if size in warmed:
                search.record(size, clock() - t0)
            warmed.add(size)
        if progress is not None:
            progress.step(stop - start)
        start = stop
    if search.done:
        cache.put(search.key, search.best(), search.per_input)
    best = search.best()
    if start < n:
        best = _run_fixed(n - start, best, lambda a, b: fn(start + a, start + b), progress)
    return best


def _free_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _run_fixed(n: int, batch_size: int, fn: Callable[[int, int], None], progress: Progress | None) -> int:
    batch_size = max(1, int(batch_size))
    start = 0
    while start < n:
        stop = min(start + batch_size, n)
        try:
            fn(start, stop)
        except (RuntimeError, torch.OutOfMemoryError) as exc:
            if not _is_oom(exc) or batch_size == 1:
                raise
            batch_size //= 2
            _free_cached_memory()
            continue
        if progress is not None:
            progress.step(stop - start)
        start = stop
    return batch_size


CHANNELS_LAST_MIN_BATCH = 4


def channels_last_call(bundle, fn: Callable[[torch.Tensor], object], chunk: torch.Tensor):
    """``fn(chunk)`` with the batch in channels_last layout where that is faster.

    Convolutions on a 2-core CPU run about 13% faster at batch 16 in channels_last (slower at
    batch 1). A model that ``.view()``s a channels_last activation fails; it is then marked
    and run contiguous from then on.
    """
    fast = (chunk.ndim == 4 and len(chunk) >= CHANNELS_LAST_MIN_BATCH
            and getattr(bundle, "channels_last_ok", True) and bundle.device.type in ("cpu", "cuda"))
    if fast:
        try:
            return fn(chunk.contiguous(memory_format=torch.channels_last))
        except RuntimeError as exc:
            if "view" not in str(exc) and "stride" not in str(exc):
                raise
            bundle.channels_last_ok = False
    return fn(chunk)
