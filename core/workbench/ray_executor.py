"""Running a dataset run's batches on Ray actors (the optional ``cluster`` extra:
``pip install 'saliency-studio[cluster]'``). The only module that imports Ray.

The driver (``run.run_dataset``) splits the image list into batches; ``RayExecutor`` starts one
actor per GPU (when the model's device is CUDA) or one per ``cpus_per_worker`` CPUs, each actor
loads the model once from its ``ModelSpec``, and batches are handed out as actors finish (two in
flight per actor), so results stream back to the driver as they complete. Only the driver writes
the store. Every node needs saliency-studio installed (with the same model files, if any).
"""

from __future__ import annotations

import logging
import socket
from typing import Iterator

import ray

from .spec import ModelSpec, RunOptions
from .worker import Worker

IN_FLIGHT = 2  # batches queued per actor: one computing, one waiting


class _Actor:
    """One model, loaded once; computes whole batches."""

    def __init__(self, spec: ModelSpec, options: RunOptions, device: str, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.worker = Worker.from_spec(spec, options, device)

    def process(self, batch):
        return self.worker.process(batch)


def _reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail fast (Ray would retry for minutes) when a HOST:PORT address does not answer."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray-address is auto, HOST:PORT or ray://HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                              "'ray start --head' and pass the address it prints") from None


def _get(ref):
    """``ray.get``, re-raising a worker's own exception (one readable line) rather than Ray's wrapper."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise RuntimeError(str(exc).strip().splitlines()[-1]) from None


class RayExecutor:
    """Shards batches over Ray actors. ``address``: a running cluster (``auto``, ``HOST:6379``,
    ``ray://HOST:10001``); ``None`` joins an already initialised Ray or starts a local one."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int = 0, cpus_per_worker: int = 1):
        self.address = address
        self.workers = int(workers)
        self.cpus_per_worker = max(1, int(cpus_per_worker))
        self._started = False

    def start(self) -> None:
        """Connect to Ray (before the driver opens the store, so a bad address changes nothing)."""
        if ray.is_initialized():
            return
        _reachable(self.address)
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
        except ConnectionError as exc:
            raise ConnectionError(f"cannot reach the Ray cluster at {self.address}: {exc}") from None
        self._started = True

    def actors_for(self, spec: ModelSpec, n_batches: int) -> tuple[int, bool]:
        """(number of actors, one GPU each?) for the cluster's resources."""
        resources = ray.cluster_resources()
        gpu = str(spec.device).startswith("cuda")
        if gpu and resources.get("GPU", 0) < 1:
            raise ValueError("the model's device is CUDA but the Ray cluster has no GPU")
        available = int(resources.get("GPU", 0)) if gpu else int(resources.get("CPU", 1)) // self.cpus_per_worker
        n = self.workers or max(1, available)
        return max(1, min(n, n_batches)), gpu

    def run(self, spec: ModelSpec, options: RunOptions, batches: list, progress) -> Iterator[tuple[list, list]]:
        if not batches:
            return
        self.start()
        actors = []
        try:
            n, gpu = self.actors_for(spec, len(batches))
            remote = ray.remote(num_cpus=self.cpus_per_worker, num_gpus=1 if gpu else 0)(_Actor)
            device = "cuda" if gpu else "cpu"
            actors = [remote.remote(spec, options, device, self.cpus_per_worker) for _ in range(n)]
            queue = iter(batches)
            pending = {}

            def submit(actor) -> None:
                batch = next(queue, None)
                if batch is not None:
                    pending[actor.process.remote(batch)] = actor

            for actor in actors:
                for _ in range(IN_FLIGHT):
                    submit(actor)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                actor = pending.pop(ready[0])
                result = _get(ready[0])
                submit(actor)
                progress.check()
                yield result
        finally:
            for actor in actors:
                ray.kill(actor)
            if self._started:
                ray.shutdown()
                self._started = False
