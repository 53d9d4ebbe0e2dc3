"""Work around a reference-count bug of PySide6 6.12 on CPython < 3.12.

PySide6 6.12.0 returns ``None`` (from every void method) and ``True``/``False`` (from
``SignalInstance.emit``) without taking a reference, as if they were immortal objects, which
they are only from CPython 3.12 on (PEP 683). On 3.11 each call lowers their count, and after a
few tens of thousands of calls (a minute of dragging the occlusion patch) the interpreter aborts
with "Fatal Python error: none_dealloc / bool_dealloc". ``immortalize_singletons`` gives these
objects the effectively endless count they have on 3.12. The real fix is a PySide6 without the
bug, or Python ≥ 3.12; this is harmless there and does nothing.
"""

from __future__ import annotations

import ctypes
import sys

_DONE = False
HEADROOM = 1 << 40  # ~10¹²: calls that could leak before the count reaches zero


def affected() -> bool:
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12) or hasattr(sys, "gettotalrefcount"):
        return False
    try:
        import PySide6
    except ImportError:
        return False
    version = tuple(int(p) for p in PySide6.__version__.split(".")[:2] if p.isdigit())
    return version >= (6, 12)


def immortalize_singletons() -> bool:
    """Once per process, when affected: raise the counts of None, True and False (their
    ``ob_refcnt``, the first field of the object) by ``HEADROOM``. Returns whether it did."""
    global _DONE
    if _DONE or not affected():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += HEADROOM
    _DONE = True
    return True
