"""Shared helpers for the benchmark scripts: timing, machine description, result files."""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_call(fn) -> float:
    """Wall time of one ``fn()``, queued GPU work included."""
    _sync()
    t0 = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - t0


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    return statistics.median(timed_call(fn) for _ in range(repeats))


def tuned_batch(bundle, shape, backward: bool = False) -> str:
    """The batch size our code measured and uses for ``bundle`` (what a user gets), as text."""
    from core.batch_tuning import DEFAULT_CACHE, tune_key

    size = DEFAULT_CACHE.get(tune_key(bundle, shape, backward))
    return f"tuned {size}" if size else "table default"


def paired_times(fa, fb, repeats: int = 9, warmup: int = 1) -> tuple[float, float]:
    """Median times of ``fa`` and ``fb`` run alternately, so drifts hit both alike."""
    for _ in range(warmup):
        fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        for fn, out in ((fa, ta), (fb, tb)):
            out.append(timed_call(fn))
    return statistics.median(ta), statistics.median(tb)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.system()} {cpu}, {torch.get_num_threads()} torch threads, {gpu}; "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def agreement(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(Pearson correlation, max abs difference) of two attributions."""
    a, b = a.detach().flatten().double().cpu(), b.detach().flatten().double().cpu()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1]), float((a - b).abs().max())


def write_table(name: str, title: str, header: list[str], rows: list[list], notes: str = "") -> Path:
    lines = [f"# {title}", "", f"Machine: {machine()}; {time.strftime('%Y-%m-%d')}", ""]
    if notes:
        lines += [notes, ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    if torch.cuda.is_available() and not name.endswith(("cuda", "gpu")):
        name += "_cuda"  # GPU figures sit beside the CPU ones, never over them
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    print(text)
    return path


def count_forwards(bundle) -> dict:
    """Count the inputs (rows) every forward of ``bundle``'s network sees from now on, the
    BatchNorm-folded twin (``fast_logits``) included: returns a dict whose ``rows`` grows."""
    counts = {"rows": 0}

    def pre_hook(_module, args):
        if args and isinstance(args[0], torch.Tensor):
            counts["rows"] += int(args[0].shape[0])

    bundle.net.register_forward_pre_hook(pre_hook)
    fast = bundle.fast_logits

    def counted(x):
        before = counts["rows"]
        out = fast(x)
        if counts["rows"] == before:  # the fused twin ran (``net`` itself counts through its hook)
            counts["rows"] += int(x.shape[0])
        return out

    bundle.fast_logits = counted
    return counts


def rss_mb() -> float:
    """Current resident memory in MiB (Linux /proc), else the peak so far."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRss:
    """Peak resident memory in MiB while a block runs, above the memory when it started:
    ``with PeakRss() as peak: work()``, then ``peak.above_start``.

    A thread samples every 10 ms; the kernel's high-water mark (``ru_maxrss``) replaces the
    samples when the block set a new one, so short peaks between samples are not missed.
    Run it in a fresh process: memory an earlier call freed but the allocator kept hides a
    later call's growth.
    """

    def __init__(self, interval_s: float = 0.01):
        self.interval_s = interval_s

    def _high_water(self) -> float:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(self.interval_s)

    def __enter__(self) -> "PeakRss":
        import threading

        self.start = self.peak = rss_mb()
        self._high_before = self._high_water()
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, rss_mb())
        high = self._high_water()
        if high > self._high_before:
            self.peak = max(self.peak, high)

    @property
    def above_start(self) -> float:
        return self.peak - self.start
