"""Reading parts of an ``.npz`` without loading it: row ranges of a member, or a member memory-mapped.

``np.savez`` (what ``asmg_tf.files.save_npz`` writes) stores every member uncompressed (``ZIP_STORED``), so a member's
array data is one contiguous byte range of the file: past the zip local header and the ``.npy`` header. Rows
``[start, stop)`` of a C-ordered ``[N, ...]`` member are then bytes ``offset + start * row_bytes`` onward, one seek
and one read. Compressed members (``np.savez_compressed``) have no such range; they are read whole, once.

No TensorFlow import: the period cache (``PeriodSet.load``) uses it on the CLIs' fast paths.
"""

from __future__ import annotations

import dataclasses
import struct
import zipfile
from collections.abc import Callable
from typing import IO

import numpy as np

#: a zip local file header: signature, then fixed fields; the name and extra-field lengths at bytes 26-29
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"


@dataclasses.dataclass(frozen=True)
class Member:
    """Where a stored member's array data lies in the ``.npz`` file."""

    name: str
    offset: int  # first byte of the array data in the file
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def row_bytes(self) -> int:
        return int(self.dtype.itemsize * np.prod(self.shape[1:], dtype=np.int64))


def _layout(f: IO[bytes], zf: zipfile.ZipFile) -> tuple[dict[str, Member], set[str]]:
    """(stored C-ordered members by name, names of the members that must be read whole)."""
    stored, whole = {}, set()
    for info in zf.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:  # compressed or encrypted
            whole.add(name)
            continue
        f.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
        if fields[0] != _LOCAL_SIGNATURE:
            raise ValueError(f"{info.filename}: not a zip local header at {info.header_offset}")
        f.seek(info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if fortran or dtype.hasobject:
            whole.add(name)
            continue
        stored[name] = Member(name, f.tell(), dtype, tuple(shape))
    return stored, whole


class NpzRows:
    """Row ranges of the members of one ``.npz`` (``rows``), each a single read; ``opener`` opens the file for
    binary reading (``open``, or ``tf.io.gfile.GFile`` for object-store paths)."""

    def __init__(self, path: str, opener: Callable[[str, str], IO[bytes]] = open):
        self.path = path
        self._open = opener
        with self._open(path, "rb") as f, zipfile.ZipFile(f) as zf:
            self._members, self._whole_names = _layout(f, zf)
        self._whole: dict[str, np.ndarray] = {}

    @property
    def names(self) -> list[str]:
        return sorted(set(self._members) | self._whole_names)

    def shape(self, name: str) -> tuple[int, ...]:
        if name in self._members:
            return self._members[name].shape
        return self._read_whole(name).shape

    def rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """``member[start:stop]`` (a fresh array)."""
        if name not in self._members:
            return np.array(self._read_whole(name)[start:stop])
        m = self._members[name]
        if not m.shape:
            raise ValueError(f"{self.path}: {name} is a scalar, it has no rows")
        start, stop = max(0, start), min(stop, m.shape[0])
        count = max(0, stop - start)
        with self._open(self.path, "rb") as f:
            f.seek(m.offset + start * m.row_bytes)
            data = f.read(count * m.row_bytes)
        if len(data) != count * m.row_bytes:
            raise ValueError(f"{self.path}: {name} is truncated (rows {start}:{stop})")
        return np.frombuffer(data, m.dtype).reshape((count, *m.shape[1:])).copy()

    def value(self, name: str) -> np.ndarray:
        """The whole member."""
        if name not in self._members:
            return self._read_whole(name)
        m = self._members[name]
        if not m.shape:
            with self._open(self.path, "rb") as f:
                f.seek(m.offset)
                return np.frombuffer(f.read(m.dtype.itemsize), m.dtype).reshape(()).copy()
        return self.rows(name, 0, m.shape[0])

    def _read_whole(self, name: str) -> np.ndarray:
        if name not in self._whole_names:
            raise KeyError(f"{self.path} has no member {name!r}; it has {self.names}")
        if name not in self._whole:
            with self._open(self.path, "rb") as f, np.load(f, allow_pickle=False) as z:
                self._whole[name] = z[name]
        return self._whole[name]


def memmap_npz(path: str) -> dict[str, np.ndarray]:
    """Every member of a local ``.npz``: stored members as read-only memory maps (pages are read when touched and
    can be dropped again under memory pressure), others loaded."""
    with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
        stored, whole = _layout(f, zf)
    out: dict[str, np.ndarray] = {}
    for name, m in stored.items():
        if 0 in m.shape:  # numpy cannot map an empty range
            out[name] = np.zeros(m.shape, m.dtype)
        else:
            out[name] = np.memmap(path, m.dtype, "r", offset=m.offset, shape=m.shape)
    if whole:
        with np.load(path, allow_pickle=False) as z:
            out.update({name: z[name] for name in whole})
    return out
