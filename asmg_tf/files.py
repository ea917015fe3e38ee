"""Small atomic file helpers with no TensorFlow import (safe on the CLIs' fast paths)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np


def write_text(path: str, text: str) -> None:
    """Write ``text`` atomically: a temporary file in the same folder, then a rename, so a crash leaves either the
    old file or the new one, never a torn one. Creates the folder."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".tmp", prefix="." + os.path.basename(path) + "-", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path: str, obj: Any, *, sort_keys: bool = False) -> None:
    """Write ``obj`` as JSON atomically (``write_text``)."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=sort_keys))


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Atomic ``.npz`` of named arrays (names may contain slashes); no pickle. Creates the folder."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` written by ``save_npz`` (pickled objects refused)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
