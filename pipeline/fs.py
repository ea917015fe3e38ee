"""File access of the pipeline over TensorFlow's filesystem layer (``tf.io.gfile``), so a pipeline root may live on
any filesystem TF knows (local, ``gs://``, ``s3://`` with tensorflow-io, ``hdfs://``, ``ram://``).

Writes are atomic where the filesystem allows it: the data goes to a hidden temporary name in the same folder,
then ``rename(..., overwrite=True)``. On local disks that is an atomic ``rename(2)``; on object stores a rename is
a copy + delete, so a crash leaves either the old object or the new one plus a stray hidden temporary, never a
torn file under the final name. numpy arrays go through gfile file objects (``np.save``/``np.load`` accept them).
"""

from __future__ import annotations

import io
import json
import posixpath
import uuid
from typing import Any

import numpy as np
from tensorflow.io import gfile

from asmg_tf.npz_rows import NpzRows


def join(*parts: str) -> str:
    """``os.path.join`` that keeps URL schemes intact (``gs://b/x`` + ``y`` -> ``gs://b/x/y``)."""
    return posixpath.join(*parts)


def dirname(path: str) -> str:
    return posixpath.dirname(path.rstrip("/"))


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


def exists(path: str) -> bool:
    return gfile.exists(path)


def isdir(path: str) -> bool:
    return gfile.isdir(path)


def makedirs(path: str) -> None:
    gfile.makedirs(path)


def listdir(path: str) -> list[str]:
    """Entry names of ``path`` (gfile marks folders on object stores with a trailing slash: stripped)."""
    return sorted(n.rstrip("/") for n in gfile.listdir(path))


def remove_tree(path: str) -> None:
    """Delete ``path`` and everything under it; nothing when it does not exist."""
    if gfile.exists(path):
        gfile.rmtree(path) if gfile.isdir(path) else gfile.remove(path)


def rename(src: str, dst: str) -> None:
    """Move a file (or, on local disks, a folder) to ``dst``, replacing a file there."""
    gfile.rename(src, dst, overwrite=True)


def is_remote(path: str) -> bool:
    """Whether ``path`` names a non-local filesystem (``scheme://``)."""
    return "://" in path and not path.startswith("file://")


def publish_dir(staging: str, dest: str) -> None:
    """Move the finished folder ``staging`` to ``dest`` (which must not exist): one atomic rename on a local disk;
    on other filesystems, which have no folder rename, a copy, then ``staging`` is deleted."""
    if is_remote(dest) or is_remote(staging):
        copy_tree(staging, dest)
        remove_tree(staging)
    else:
        gfile.rename(staging, dest)


def copy_file(src: str, dst: str) -> None:
    gfile.makedirs(dirname(dst))
    gfile.copy(src, dst, overwrite=True)


def copy_tree(src: str, dst: str) -> None:
    """Copy the folder ``src`` into ``dst`` (created; existing files overwritten), recursively."""
    for folder, _, names in gfile.walk(src):
        rel = posixpath.relpath(folder, src) if folder.rstrip("/") != src.rstrip("/") else ""
        target = join(dst, rel) if rel else dst
        gfile.makedirs(target)
        for name in names:
            gfile.copy(join(folder, name), join(target, name), overwrite=True)


def _temporary(path: str) -> str:
    return join(dirname(path), f".{basename(path)}-{uuid.uuid4().hex}.tmp")


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a hidden temporary in the same folder, then a rename); creates the
    folder."""
    if dirname(path):  # a bare file name lives in the working folder
        gfile.makedirs(dirname(path))
    tmp = _temporary(path)
    try:
        with gfile.GFile(tmp, "wb") as f:
            f.write(data)
        gfile.rename(tmp, path, overwrite=True)
    except BaseException:
        if gfile.exists(tmp):
            gfile.remove(tmp)
        raise


def read_bytes(path: str) -> bytes:
    with gfile.GFile(path, "rb") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_json(path: str, obj: Any, *, sort_keys: bool = False) -> None:
    """``obj`` as JSON, atomically (``write_bytes``)."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=sort_keys))


def read_json(path: str) -> Any:
    return json.loads(read_text(path))


def save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Atomic ``.npz`` of named arrays (names may contain slashes); no pickle."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes(path, buffer.getvalue())


def load_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (pickled objects refused)."""
    with gfile.GFile(path, "rb") as f, np.load(f, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def npz_rows(path: str) -> NpzRows:
    """An ``.npz`` read by row ranges through gfile (``asmg_tf.npz_rows``): one ranged read per chunk."""
    return NpzRows(path, opener=gfile.GFile)


def save_npy(path: str, array: np.ndarray) -> None:
    """Atomic ``.npy`` of one array; no pickle."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def load_npy(path: str) -> np.ndarray:
    with gfile.GFile(path, "rb") as f:
        return np.load(io.BytesIO(f.read()), allow_pickle=False)
