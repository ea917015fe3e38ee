"""Columns read batch by batch, put in an order that needs all of them, without holding them in memory.

A period read from records must be sorted into one canonical order before training (its shuffles are seeded from
that order), and the order is known only after the last record. ``ColumnSpill`` appends each parsed batch to one
local scratch file per column, maps the columns back (``column``), and writes them permuted into ``.npy`` files that
it returns memory-mapped (``ordered``): in memory at once are a batch, the sort keys the caller loads, the
permutation (8 bytes per row) and a chunk. The scratch folder is removed on ``close``; the returned maps stay
readable (an unlinked file lives while it is mapped, POSIX).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

#: rows permuted at once by ``ordered``
CHUNK_ROWS = 1 << 18


class ColumnSpill:
    """Scratch columns ``{name: (dtype, row_shape)}`` in a fresh folder under ``dir`` (default: the temp dir)."""

    def __init__(self, columns: dict[str, tuple[np.dtype, tuple[int, ...]]], dir: str | None = None):
        self.columns = {k: (np.dtype(dt), tuple(shape)) for k, (dt, shape) in columns.items()}
        self.folder = tempfile.mkdtemp(prefix="asmg-spill-", dir=dir)
        self.rows = 0
        self._files = {k: open(self._path(k, ".raw"), "wb") for k in self.columns}

    def _path(self, name: str, suffix: str) -> str:
        return os.path.join(self.folder, f"{list(self.columns).index(name)}{suffix}")

    def append(self, batch: dict[str, np.ndarray]) -> None:
        """One batch of every column (same number of rows, cast to the column's dtype)."""
        sizes = {int(np.shape(batch[k])[0]) for k in self.columns}
        if len(sizes) != 1:
            raise ValueError(f"a batch's columns differ in length: {sorted(sizes)}")
        for k, (dtype, shape) in self.columns.items():
            value = np.ascontiguousarray(batch[k], dtype)
            if value.shape[1:] != shape:
                raise ValueError(f"column {k}: rows of shape {value.shape[1:]}, expected {shape}")
            value.tofile(self._files[k])
        self.rows += sizes.pop()

    def column(self, name: str) -> np.ndarray:
        """A column in append order (memory-mapped)."""
        dtype, shape = self.columns[name]
        self._files[name].flush()
        if self.rows == 0:
            return np.zeros((0, *shape), dtype)
        return np.memmap(self._path(name, ".raw"), dtype, "r", shape=(self.rows, *shape))

    def ordered(self, order: np.ndarray, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """The columns (``names``, default all) permuted by ``order`` (``out[i] = column[order[i]]``), each a
        read-only memory map of a new ``.npy`` in the scratch folder."""
        if len(order) != self.rows:
            raise ValueError(f"order has {len(order)} rows, the columns {self.rows}")
        out = {}
        for name in names or list(self.columns):
            dtype, shape = self.columns[name]
            if self.rows == 0:
                out[name] = np.zeros((0, *shape), dtype)
                continue
            source = self.column(name)
            path = self._path(name, ".npy")
            target = np.lib.format.open_memmap(path, "w+", dtype, (self.rows, *shape))
            for a in range(0, self.rows, CHUNK_ROWS):
                target[a : a + CHUNK_ROWS] = source[order[a : a + CHUNK_ROWS]]
            target.flush()
            del target, source
            out[name] = np.load(path, mmap_mode="r")
        return out

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ColumnSpill:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
