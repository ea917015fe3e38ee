"""Errors raised for bad input data: they name the file, and where known the row and column."""

from __future__ import annotations


class DataError(ValueError):
    """Input data cannot be used as it is; the message says where and how to fix it."""

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None, column: str | None = None):
        where = []
        if path is not None:
            where.append(f"file {path}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.path, self.row, self.column = path, row, column
