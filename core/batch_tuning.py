"""Batch sizes measured on the real work, not read from a table.

The first job per (architecture, input shape, device, forward or forward+backward) runs its
first batches at growing candidate sizes, times each per input, and keeps the fastest for the
rest of the job; the winner is cached on disk with the torch version and the device's name, so
another card or another torch measures again. Nothing is wasted: the timed batches are the
job's own work. The fixed table in ``core.batching`` is the fallback (tuning switched off with
``SALIENCY_STUDIO_BATCH_TUNING=0``, or a job too short to measure).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

ENV_SWITCH = "SALIENCY_STUDIO_BATCH_TUNING"
CANDIDATES = {"cpu": (1, 2, 4, 8, 16, 32), "cuda": (16, 64, 256), "mps": (4, 16, 64)}
WORSE = 1.10  # a candidate this much slower per input than the best so far, twice, ends the search
SEARCH_RULE = 2  # part of the cache key: sizes found by an older search rule are measured again
_lock = threading.Lock()


@dataclass(frozen=True)
class TuneKey:
    """What a measured batch size is valid for."""

    model: str  # architecture: class name and parameter count (weights do not change speed)
    shape: tuple  # one input's shape, e.g. (3, 224, 224)
    device: str  # the device's own name: "cpu", or the GPU's product name
    backward: bool  # forward+backward (gradients) or forward only
    torch_version: str = torch.__version__

    @property
    def device_type(self) -> str:
        return "cpu" if self.device == "cpu" else ("mps" if self.device == "mps" else "cuda")

    def token(self) -> str:
        shape = "x".join(str(int(s)) for s in self.shape)
        return (f"{self.model}|{shape}|{self.device}|{'fwd+bwd' if self.backward else 'fwd'}|"
                f"torch {self.torch_version}|search {SEARCH_RULE}")


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    return device.type


def tune_key(bundle, sample_shape, backward: bool) -> TuneKey:
    """The key for ``bundle``'s network on inputs of ``sample_shape`` (without the batch axis)."""
    net = bundle.net
    params = sum(p.numel() for p in net.parameters())
    return TuneKey(f"{type(net).__name__}:{params}", tuple(int(s) for s in sample_shape),
                   device_name(bundle.device), bool(backward))


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "off", "false", "no")


class BatchSizeCache:
    """Measured batch sizes on disk (JSON), keyed by ``TuneKey.token()``."""

    def __init__(self, path: Path | None = None):
        self._path = path

    @property
    def path(self) -> Path:
        if self._path is None:
            from .paths import cache_dir

            self._path = cache_dir() / "batch_sizes.json"
        return self._path

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: TuneKey) -> int | None:
        value = self._read().get(key.token())
        return int(value["batch_size"]) if isinstance(value, dict) and "batch_size" in value else None

    def put(self, key: TuneKey, batch_size: int, per_input_s: dict[int, float]) -> None:
        with _lock:
            data = self._read()
            # entries of another torch version or search rule can never be read again: drop them
            data = {k: v for k, v in data.items() if k.endswith(f"torch {torch.__version__}|search {SEARCH_RULE}")}
            data[key.token()] = {"batch_size": int(batch_size),
                                 "ms_per_input": {str(b): round(t * 1e3, 4) for b, t in per_input_s.items()}}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
            tmp.replace(self.path)


DEFAULT_CACHE = BatchSizeCache()


@dataclass
class Search:
    """One search over candidate sizes, fed the time of each real batch as it finishes.

    A size that comes out slower than the best so far is timed once more before it ends the
    search, and each size keeps its fastest time: another program busy on the machine only ever
    adds time, so one slow batch must not end the search with a bad size cached for good (it did:
    resnet50 settled on batch 1, 1.5× slower per image than batch 32, after one slow batch of 2)."""

    key: TuneKey
    candidates: tuple
    per_input: dict
    done: bool = False
    timed: dict = field(default_factory=dict)  # size -> timed batches so far
    confirming: int | None = None  # a size that came out slower once: timed again next

    @classmethod
    def start(cls, key: TuneKey) -> "Search":
        return cls(key, CANDIDATES.get(key.device_type, CANDIDATES["cpu"]), {})

    def next_size(self) -> int:
        """The batch size to run next: each candidate in turn until throughput drops."""
        if self.done:
            return self.best()
        if self.confirming is not None:
            return self.confirming
        untried = [c for c in self.candidates if c not in self.per_input]
        return untried[0] if untried else self.best()

    def needs(self) -> int:
        """Inputs a complete search consumes when no size needs a second timing: every candidate
        twice (warm-up, then timed)."""
        return 2 * sum(self.candidates)

    def record(self, size: int, seconds: float) -> None:
        t = seconds / size
        self.per_input[size] = min(t, self.per_input.get(size, t))
        self.timed[size] = self.timed.get(size, 0) + 1
        self.confirming = None
        if self.per_input[size] > WORSE * self.per_input[self.best()]:
            if self.timed[size] < 2:
                self.confirming = size  # one slow batch may be noise: time this size again
                return
            self.done = True
        if len(self.per_input) == len(self.candidates):
            self.done = True

    def cap(self, size: int) -> None:
        """Out of memory at ``size``: nothing at or above it is tried again."""
        self.candidates = tuple(c for c in self.candidates if c < size) or (max(1, size // 2),)
        self.per_input = {b: t for b, t in self.per_input.items() if b < size}
        if self.confirming is not None and self.confirming >= size:
            self.confirming = None
        if all(c in self.per_input for c in self.candidates):
            self.done = True

    def best(self) -> int:
        return min(self.per_input, key=self.per_input.get) if self.per_input else self.candidates[0]


def synchronize(device_type: str) -> None:
    """Wait for queued GPU work, so that a host clock measures it."""
    if device_type == "cuda" and torch.cuda.is_available():
        torch.cuda.synchronize()
    elif device_type == "mps" and getattr(torch, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.synchronize()


def clock() -> float:
    return time.perf_counter()
