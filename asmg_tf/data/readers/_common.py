"""Helpers shared by the readers: locating files, reading tables, checking columns, parsing times.

Conventions every reader follows:

* a *missing* value in a needed column (empty cell, NaN) makes the row dirty: it is dropped and counted in
  ``Interactions.dropped`` under ``missing_<column>``;
* a value that is *present but unparseable* (a timestamp such as ``2014-13-45``, a rating ``five``) means the column
  is not what the reader thinks it is, so the reader stops with a ``DataError`` naming the file, row and column;
* row numbers in messages count data rows from 1 (the header is not a row), i.e. row ``r`` is file line ``r + 1``
  for a CSV with one header line.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from asmg_tf.data.errors import DataError

_EPOCH = pd.Timestamp(0, tz="UTC")


def find_file(path: str, names: Sequence[str], what: str) -> str:
    """``path`` itself when it is a file, else the first of ``names`` inside the directory ``path``."""
    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        for name in names:
            candidate = os.path.join(path, name)
            if os.path.isfile(candidate):
                return candidate
        raise DataError(f"no {what} found in this folder; expected one of {list(names)}", path=path)
    raise DataError("no such file or folder", path=path)


def find_by_extension(path: str, extensions: Sequence[str], what: str) -> str:
    """``path`` when it is a file, else the single file in directory ``path`` with one of ``extensions``."""
    if os.path.isfile(path):
        return path
    if not os.path.isdir(path):
        raise DataError("no such file or folder", path=path)
    found = sorted(
        os.path.join(path, f)
        for f in os.listdir(path)
        if f.lower().endswith(tuple(extensions)) and not f.startswith(".")
    )
    if len(found) != 1:
        raise DataError(
            f"expected exactly one {what} ({', '.join(extensions)}) in this folder, found {len(found)}: "
            f"{[os.path.basename(f) for f in found]}; pass the file itself",
            path=path,
        )
    return found[0]


def dataset_name(path: str) -> str:
    """A readable name: the folder name for a folder, the file name without extensions for a file."""
    base = os.path.basename(os.path.normpath(path))
    if os.path.isdir(path):
        return base
    for ext in (".gz", ".csv", ".parquet", ".xlsx", ".xls", ".dat", ".tsv", ".txt"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    return base


def read_header(path: str, nbytes: int = 65536) -> str:
    """The first line of a (possibly gzip-compressed) text file, or '' when it cannot be read as text."""
    try:
        opener = gzip.open if path.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            return f.readline(nbytes).strip("\r\n\ufeff")
    except (OSError, EOFError):
        return ""


def read_csv(path: str, **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` whose failures become ``DataError``s naming the file (and line, when pandas says)."""
    try:
        return pd.read_csv(path, **kwargs)
    except FileNotFoundError:
        raise DataError("no such file", path=path) from None
    except pd.errors.EmptyDataError:
        raise DataError("the file is empty", path=path) from None
    except ValueError as e:  # ParserError is a ValueError; so are usecols mismatches
        msg = str(e)
        if "Usecols do not match columns" in msg or "not in list" in msg:
            header = read_header(path)
            raise DataError(f"missing column(s): {msg}; the header is {header!r}", path=path) from None
        raise DataError(f"cannot parse as CSV: {msg}", path=path) from None
    except UnicodeDecodeError as e:
        raise DataError(f"not valid text in the expected encoding ({e}); pass encoding=...", path=path) from None


def require_columns(df: pd.DataFrame, needed: Iterable[str], path: str, hint: str = "") -> None:
    """Raise a ``DataError`` naming the first missing column and the columns that are there."""
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; the file has {list(map(str, df.columns))}" + (f". {hint}" if hint else ""),
            path=path,
            column=missing[0],
        )


def drop_missing(df: pd.DataFrame, columns: Iterable[str], dropped: dict) -> pd.DataFrame:
    """Drop rows with a missing value in any of ``columns``, counting them as ``missing_<column>`` (first wins)."""
    keep = np.ones(len(df), dtype=bool)
    for c in columns:
        col = df[c]
        miss = col.isna().to_numpy()
        if col.dtype == object:
            miss |= (col.astype(str).str.strip() == "").to_numpy() & ~miss
        new = miss & keep
        if new.any():
            dropped[f"missing_{c}"] = dropped.get(f"missing_{c}", 0) + int(new.sum())
        keep &= ~miss
    return df[keep] if not keep.all() else df


def count_drop(df: pd.DataFrame, remove: np.ndarray | pd.Series, reason: str, dropped: dict) -> pd.DataFrame:
    """Drop the rows where ``remove`` is true and add their number to ``dropped[reason]`` (also when 0)."""
    remove = np.asarray(remove, dtype=bool)
    dropped[reason] = dropped.get(reason, 0) + int(remove.sum())
    return df[~remove] if remove.any() else df


def first_bad(values: pd.Series, bad: np.ndarray) -> tuple[int, object]:
    """(1-based data row, raw value) of the first true entry of ``bad`` (index = 0-based row in the file)."""
    pos = int(np.flatnonzero(bad)[0])
    label = values.index[pos]
    row = int(label) + 1 if isinstance(label, (int, np.integer)) else pos + 1
    return row, values.iloc[pos]


def to_numeric(values: pd.Series, path: str, column: str, what: str = "a number") -> pd.Series:
    """Numbers from a column without missing values; a non-numeric entry raises a ``DataError`` at its row."""
    if pd.api.types.is_numeric_dtype(values):
        return values
    out = pd.to_numeric(values, errors="coerce")
    bad = out.isna().to_numpy()
    if bad.any():
        row, raw = first_bad(values, bad)
        raise DataError(f"{raw!r} is not {what} ({int(bad.sum())} such rows)", path=path, row=row, column=column)
    return out


#: the largest magnitude a float can carry exactly as an integer: ids or times beyond it would be silently rounded
_EXACT_FLOAT_INT = 2**53


def not_int64(values: pd.Series) -> np.ndarray:
    """Entries of a numeric column that are not exact int64 values (NaN, inf, fractions, out of range)."""
    arr = values.to_numpy()
    if arr.dtype.kind in "iub":
        return arr > np.iinfo(np.int64).max if arr.dtype.kind == "u" else np.zeros(arr.shape, bool)
    if arr.dtype.kind != "f":  # object: integers too large for any NumPy type
        return np.array([not (isinstance(v, (int, np.integer)) and abs(int(v)) < 2**63) for v in arr], dtype=bool)
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(arr) | (np.abs(arr) >= _EXACT_FLOAT_INT) | (np.floor(arr) != arr)


def to_int64(values: pd.Series, path: str, column: str, what: str = "an integer id") -> np.ndarray:
    """int64 from a column without missing values; an entry that is not an exact integer in range (``1.5``,
    ``inf``, ``1e30``) raises a ``DataError`` at its row instead of being truncated or wrapped."""
    numbers = to_numeric(values, path, column, what)
    reject_rows(values, not_int64(numbers), path, column, lambda raw, n: f"{raw!r} is not {what} (an integer "
                f"within int64; {n} such rows)")  # fmt: skip
    return numbers.to_numpy().astype(np.int64)


def reject_rows(values: pd.Series, bad: np.ndarray, path: str, column: str, say) -> None:
    """A ``DataError`` at the first row where ``bad`` holds; ``say(raw value, number of such rows)`` words it."""
    if bad.any():
        row, raw = first_bad(values, bad)
        raise DataError(say(raw, int(bad.sum())), path=path, row=row, column=column)


def to_unix_seconds(values: pd.Series, path: str, column: str, unit: str = "s") -> np.ndarray:
    """int64 unix seconds from numbers (in ``unit``) or date/time strings/datetimes (naive ones are taken as UTC).

    The column must hold no missing values (drop them first). An unparseable entry raises a ``DataError``.
    """
    if pd.api.types.is_bool_dtype(values):
        raise DataError("holds booleans, not times", path=path, column=column)
    if pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy()
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (np.abs(arr) >= 2**62) if arr.dtype.kind == "f" else np.zeros(len(arr), bool)
        # an infinite or astronomically large time would wrap around when cast to int64
        reject_rows(values, bad, path, column, lambda raw, n: f"{raw!r} is not a unix time ({n} such rows)")
        if unit != "s":
            scale = {"ms": 10**3, "us": 10**6, "ns": 10**9}.get(unit)
            if scale is None:
                raise ValueError(f"timestamp unit must be 's', 'ms', 'us' or 'ns', got {unit!r}")
            return np.floor_divide(arr.astype(np.int64), scale)
        return np.floor(arr).astype(np.int64) if arr.dtype.kind == "f" else arr.astype(np.int64)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        times = values.dt.tz_localize("UTC") if getattr(values.dt, "tz", None) is None else values.dt.tz_convert("UTC")
    else:
        strings = values.astype(str).str.strip()
        numeric = pd.to_numeric(strings, errors="coerce")
        if numeric.notna().all():  # unix times stored as text
            return to_unix_seconds(numeric, path, column, unit)
        try:
            times = pd.to_datetime(strings, utc=True)
        except (ValueError, TypeError, OverflowError):
            times = pd.to_datetime(strings, utc=True, errors="coerce", format="mixed")
            bad = times.isna().to_numpy()
            if bad.any():
                row, raw = first_bad(values, bad)
                raise DataError(
                    f"cannot parse {raw!r} as a date/time or unix seconds ({int(bad.sum())} such rows)",
                    path=path,
                    row=row,
                    column=column,
                ) from None
    return ((times - _EPOCH) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def parse_bound(value, path: str, name: str, end: bool = False) -> int | None:
    """A window bound as unix seconds: a date string/datetime (``end``: through the end of that day) or a number."""
    if value is None:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"option {name}={value!r} is not a date such as '2014-01-01'", path=path) from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    date_only = isinstance(value, str) and len(value.strip()) <= 10
    if end and date_only:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return int((ts - _EPOCH) // pd.Timedelta(seconds=1))


def apply_window(df: pd.DataFrame, start: int | None, end: int | None, dropped: dict) -> pd.DataFrame:
    """Keep rows with ``start <= timestamp <= end`` (either bound optional), counting the rest."""
    if start is not None:
        df = count_drop(df, df["timestamp"].to_numpy() < start, "before_start", dropped)
    if end is not None:
        df = count_drop(df, df["timestamp"].to_numpy() > end, "after_end", dropped)
    return df


def ensure_rows(df: pd.DataFrame, path: str, dropped: dict) -> None:
    """A ``DataError`` when nothing is left, with the drop counts that explain why."""
    if len(df) == 0:
        detail = f"; dropped rows by reason: {dropped}" if dropped else ""
        raise DataError(f"no usable interactions in this data{detail}", path=path)
