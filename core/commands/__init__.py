"""Command modules of the CLI beyond ``core.cli``'s own. Each module has ``register(sub)``
returning ``{command name: handler(args) -> exit status}``; list it in ``COMMAND_MODULES``."""

from __future__ import annotations

import importlib

COMMAND_MODULES: tuple[str, ...] = ("metrics", "diagnose", "units", "dataset", "study", "distill")


def register_all(sub) -> dict:
    """Add every module's sub-commands to ``sub``; their handlers by command name."""
    handlers = {}
    for name in COMMAND_MODULES:
        handlers.update(importlib.import_module(f"{__name__}.{name}").register(sub))
    return handlers
