"""Load-time dry run: does the described input fit the model, and is it batch-independent?

One forward of the described shape must succeed, or loading stops with one clear line (never a
guess). Two more (one image, then it in a batch of two) reveal BatchNorm layers that use batch
statistics: the output then depends on the batch and explaining would move the running
statistics. Those models get a warning, and their buffers are restored after every pass.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from .adapters import to_logits
from .errors import ModelLoadError

_CHANNELS = re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+) channels")


def check_model(bundle) -> list[str]:
    """Dry-run ``bundle`` on its described input; return warnings (also stored on the bundle).

    Raises ``ModelLoadError`` when the input does not fit. Leaves every buffer as it was.
    """
    pre = bundle.preprocess
    h, w = pre.crop
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(1, pre.channels, h, w, generator=gen)
    b = torch.rand(1, pre.channels, h, w, generator=gen) * 3 - 1
    a, b = a.to(bundle.device), b.to(bundle.device)
    before = snapshot(bundle.net)
    changed: dict[str, None] = {}

    def run(x):  # one forward; note and undo any buffer change so the passes stay comparable
        try:
            return bundle.net(x)
        finally:
            after = dict(bundle.net.named_buffers())
            changed.update((n, None) for n, v in before.items() if not _same(v, after[n]))
            restore(bundle.net, before)

    with torch.no_grad():
        try:
            alone = run(a)
        except Exception as exc:  # noqa: BLE001 - any failure here means "does not fit"
            raise ModelLoadError(mismatch_message(exc, pre)) from None
        again = run(a)
        try:
            pair = run(torch.cat([a, b]))
        except Exception as exc:  # noqa: BLE001 - reported, not fatal: single images still work
            pair = None
            batch_error = _reason(str(exc))
    changed = list(changed)
    warnings = []
    if pair is None:
        warnings.append(f"this model fails on a batch of two images ({batch_error}); batched methods "
                        "and metrics will fail")
    if changed:
        bundle.mutates_buffers = True
        warnings.append(f"running a forward pass changes this model's buffers ({_names(changed)}): a BatchNorm "
                        "layer in train mode or F.batch_norm(training=True); they are restored after every pass")
    try:
        alone, again = to_logits(alone), to_logits(again)
        pair = to_logits(pair) if pair is not None else None
    except (TypeError, ValueError):  # odd outputs are reported when the model is used
        return _record(bundle, warnings)
    if not _close(alone, again):
        warnings.append("this model gives different outputs for the same input (dropout or another random "
                        "layer left active?); maps will not be reproducible")
    elif pair is not None and not _close(alone, pair[:1]):
        layers = batch_stat_layers(bundle.net)
        where = f" ({_names(layers)})" if layers else ""
        warnings.append(f"this model's output for an image depends on the other images in its batch{where}: "
                        "BatchNorm uses batch statistics (train mode or track_running_stats=False), so maps "
                        "of batched methods and metrics depend on the batch size")
    return _record(bundle, warnings)


def _record(bundle, warnings: list[str]) -> list[str]:
    bundle.warnings = list(dict.fromkeys([*getattr(bundle, "warnings", []), *warnings]))
    return warnings


def mismatch_message(exc: Exception, pre) -> str:
    """One line saying why the described input did not fit the model."""
    text = str(exc)
    found = _CHANNELS.search(text)
    if found:
        expected = int(found.group(1))
        return (f"the model expects {expected} input channel{'s' * (expected != 1)} but the input is set to "
                f"{pre.channels} (--channels / 'channels' in the model card; default 3)")
    h, w = pre.crop
    return (f"input {pre.channels}×{h}×{w} does not fit this model: {_reason(text)} "
            "(set --input-size / --channels or the model card)")


def batch_stat_layers(net: nn.Module) -> list[str]:
    """Names of BatchNorm modules that normalise with batch statistics."""
    if isinstance(net, torch.jit.ScriptModule):
        return []
    return [name for name, m in net.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or not m.track_running_stats)]


def snapshot(net: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every buffer of ``net``."""
    return {name: buf.detach().clone() for name, buf in net.named_buffers()}


def restore(net: nn.Module, saved: dict[str, torch.Tensor]) -> None:
    """Write ``saved`` back into ``net``'s buffers without touching autograd's version counters
    (a pass may have saved a buffer for its backward; its values are not used there)."""
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name in saved:
                buf.data.copy_(saved[name])


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.equal(a, b.detach()))


def _close(x: torch.Tensor, y: torch.Tensor) -> bool:
    x, y = x.float(), y.float()
    scale = float(x.abs().max()) if x.numel() else 0.0
    return x.shape == y.shape and bool(torch.allclose(x, y, rtol=1e-3, atol=1e-4 * scale + 1e-5))


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _reason(text: str) -> str:
    """The telling line of a torch error (TorchScript puts it after a traceback)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(("RuntimeError:", "ValueError:", "IndexError:")):
            return line.partition(":")[2].strip()
    return lines[0] if lines else "the forward pass failed"
