"""A full disk, said plainly: recognise "no space left" (and quota, file-size limit) in an exception from Python,
NumPy or TensorFlow, and word it as one line naming the path, so the commands can end with that instead of a
traceback. Every write of the package is atomic, so what was committed before stays intact and a rerun resumes."""

from __future__ import annotations

import errno
import os
import re

#: errno values that mean "the storage is full" to an operator
_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file too large"}
_TEXT = re.compile(r"no space left on device|disk quota exceeded|file too large|database or disk is full", re.I)
# TensorFlow's messages name the file before or after the reason, e.g. "...; No space left on device" with the path
_TF_PATH = re.compile(r"(/[^\s:;,'\"]+)")


def _file_in(message: str) -> str | None:
    """The first path in ``message`` whose folder exists (TensorFlow's messages also hold device names such as
    ``/job:localhost/replica:0``, which are not files)."""
    for candidate in _TF_PATH.findall(message):
        folder = os.path.dirname(candidate)
        if folder not in ("", "/") and os.path.isdir(folder):
            return candidate
    return None


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def out_of_space(exc: BaseException, writing: str | None = None) -> str | None:
    """One line for a storage-full error anywhere in ``exc``'s chain (``writing``: the folder being written, named
    when the error itself names no path), else None."""
    for e in _chain(exc):
        reason, path = None, None
        if isinstance(e, OSError) and e.errno in _FULL:
            reason, path = _FULL[e.errno], e.filename
        elif _TEXT.search(str(e)):
            reason = _TEXT.search(str(e)).group(0).lower()
            path = _file_in(str(e))
        if reason:
            where = path or writing or "its output folder"
            return (
                f"{reason} while writing {where}: free space there (or point the command at a larger volume) and "
                "run the same command again; what was written before is intact and the rerun resumes"
            )
    return None
