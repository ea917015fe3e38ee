"""Swap an attribute of one object for the length of a block, past Keras' attribute tracking."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

_MISSING = object()


@contextlib.contextmanager
def patched(obj: object, name: str, value: object) -> Iterator[None]:
    """Set ``obj.name = value`` in the instance dict for the block, without Keras tracking; restore on exit."""
    old = vars(obj).get(name, _MISSING)
    object.__setattr__(obj, name, value)
    try:
        yield
    finally:
        if old is _MISSING:
            object.__delattr__(obj, name)
        else:
            object.__setattr__(obj, name, old)
