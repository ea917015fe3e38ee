"""Raw-id vocabularies: the caller's id of every row of the user and item tables.

Row ``n`` of a table belongs to the raw id on line ``n`` of its vocabulary. Raw ids are kept as text, the way the
readers normalise them (``str`` of the reader's value: customer ``17850``, stock code ``85123A``, movie ``296``), so the
bench's vocabulary (sorted raw ids, ``asmg_tf.data.preprocess``) and the pipeline's append-only one
(``pipeline.state``) write the same text for the same id. A space whose every id is a canonical decimal int64
("7", not "007" or "+7") is an *integer* space: serving then also accepts the id as an integer.

No TensorFlow here: the bench and the pipeline's Beam steps import this.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Sequence

import numpy as np

#: the id spaces a served model looks up (categories come from the item -> categories table inside the model)
SPACES = ("users", "items")
_CANONICAL_INT = re.compile(r"-?(0|[1-9][0-9]{0,18})")
_INT64 = (-(2**63), 2**63 - 1)


def id_text(values: Iterable) -> list[str]:
    """The text of raw ids as the vocabularies hold them: ``bytes`` decoded as UTF-8, NumPy scalars as Python ones."""
    out = []
    for v in values:
        if isinstance(v, bytes):
            out.append(v.decode("utf-8"))
        elif isinstance(v, np.generic):
            out.append(str(v.item()))
        else:
            out.append(str(v))
    return out


def is_integer_id(text: str) -> bool:
    """Is ``text`` a canonical decimal int64 (no sign but '-', no leading zeros, in range)?"""
    return bool(_CANONICAL_INT.fullmatch(text)) and text != "-0" and _INT64[0] <= int(text) <= _INT64[1]


def check_ids(ids: Sequence[str], space: str) -> None:
    """A ``ValueError`` for ids a vocabulary file cannot hold: empty ones, line breaks, duplicates."""
    bad = [v for v in ids if not v or "\n" in v or "\r" in v]
    if bad:
        raise ValueError(f"raw {space} ids must be non-empty and hold no line breaks: {bad[:3]}")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(v for v in ids if v in seen or seen.add(v))
        raise ValueError(f"raw {space} id {dup!r} appears twice in the vocabulary")


def write_ids(path: str, ids: Sequence[str]) -> None:
    """One id a line (plain ``open``: callers write into their own staging folders)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(v + "\n" for v in ids))


def read_ids(path: str) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read().split("\n")[:-1]  # not splitlines(): ids may hold \x1c, \u2028


@dataclasses.dataclass(frozen=True)
class IdVocabulary:
    """The raw id of every user and item row: ``users[n]`` is the id of user row ``n``."""

    users: tuple[str, ...]
    items: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "users", tuple(self.users))
        object.__setattr__(self, "items", tuple(self.items))
        for space in SPACES:
            check_ids(self.ids(space), space)

    def ids(self, space: str) -> tuple[str, ...]:
        if space not in SPACES:
            raise KeyError(f"id space must be one of {SPACES}, got {space!r}")
        return getattr(self, space)

    def integer(self, space: str) -> bool:
        """Every id of ``space`` is a canonical decimal int64 (so an integer id on the wire means the same id)."""
        return all(is_integer_id(v) for v in self.ids(space))

    def sizes(self) -> dict[str, int]:
        return {space: len(self.ids(space)) for space in SPACES}

    def raw(self, space: str, rows: np.ndarray) -> np.ndarray:
        """Row indices -> their raw ids (object array of str); rows outside the vocabulary raise an ``IndexError``."""
        table = np.asarray(self.ids(space), dtype=object)
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(table)):
            raise IndexError(f"{space} rows {rows.min()}..{rows.max()} outside the vocabulary of {len(table)} ids")
        return table[rows]

    def write(self, directory: str) -> None:
        """``<directory>/users.txt`` and ``items.txt``."""
        os.makedirs(directory, exist_ok=True)
        for space in SPACES:
            write_ids(os.path.join(directory, f"{space}.txt"), self.ids(space))

    @classmethod
    def read(cls, directory: str) -> IdVocabulary:
        """The vocabulary written by ``write`` (or the pipeline's ``vocab/`` folder); ``FileNotFoundError`` naming the
        folder when a file is missing."""
        paths = {space: os.path.join(directory, f"{space}.txt") for space in SPACES}
        missing = [p for p in paths.values() if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"no raw-id vocabulary in {directory} (missing {', '.join(missing)})")
        return cls(*(read_ids(paths[space]) for space in SPACES))
