"""Downloading pretrained weights into the torch hub cache, with progress and cancel.

torchvision's own loader prints a console bar and cannot be stopped; this one reports through
``core.jobs.Progress`` (so the GUI can show it and cancel), writes to a temporary file that is
renamed only when complete, and checks the sha256 prefix torchvision puts in file names.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.request
from pathlib import Path

import torch

from ..jobs import Cancelled, Progress
from ..messages import first_line
from .errors import ModelLoadError

CHUNK = 1 << 20


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch(url: str, progress: Progress | None = None, timeout: float = 30.0) -> Path:
    """The cached file for ``url``, downloading it first if needed."""
    target = cache_dir() / os.path.basename(url)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            if progress is not None:
                progress.set_total(max(1, total // CHUNK))
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                digest.update(block)
                if progress is not None:
                    progress.message = f"downloading {target.name}"
                    progress.step(1 if total else 0)
    except Cancelled:
        partial.unlink(missing_ok=True)
        raise
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ModelLoadError(
            f"could not download {url} ({exc}). Without internet, fetch the file elsewhere and place it "
            f"as {target}, or choose weights 'none'") from None
    prefix = re.search(r"-([a-f0-9]{8,})\.", target.name)
    if prefix and not digest.hexdigest().startswith(prefix.group(1)):
        partial.unlink(missing_ok=True)
        raise ModelLoadError(f"the download of {target.name} is corrupt (sha256 does not match); try again")
    partial.replace(target)
    return target


def load_weights(weights, progress: Progress | None = None) -> dict:
    """A torchvision weights enum's state dict, via the cache (``weights_only`` loading)."""
    path = fetch(weights.url, progress)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"{path} is not a valid checkpoint ({first_line(exc)}); delete it and "
                             "retry") from None
