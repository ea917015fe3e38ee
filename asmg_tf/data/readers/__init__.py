"""Readers: one module per raw format, each ``read(path, **options) -> Interactions``, and format detection.

=============== ======================================================= =========================
format           files                                                   preset (``kind``)
=============== ======================================================= =========================
online-retail    UCI Online Retail (.parquet / .xlsx / .csv)             sobazaar (implicit)
movielens        ratings.csv+movies.csv, u.data+u.item, ratings.dat[.gz] movielens (explicit)
sobazaar         Sobazaar-hashID.csv.gz                                  sobazaar (implicit)
tmall            user_log_format1.csv                                    tmall (implicit+category)
paper-csv        the paper's preprocessed samples (userId,itemSeq,...)   from the labels/meta
generic          any CSV/Parquet with a ``columns`` mapping               from the columns
=============== ======================================================= =========================
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable

from asmg_tf.data.errors import DataError
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.readers import _common as c
from asmg_tf.data.readers import generic, movielens, online_retail, paper_csv, sobazaar, tmall

READERS: dict[str, Callable[..., Interactions]] = {
    "online-retail": online_retail.read,
    "movielens": movielens.read,
    "sobazaar": sobazaar.read,
    "tmall": tmall.read,
    "paper-csv": paper_csv.read,
    "generic": generic.read,
}
_DATA_EXTENSIONS = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".xlsx", ".xls", ".dat", ".dat.gz")
_ADVICE = (
    "pass format=... (one of " + ", ".join(READERS) + "); for an arbitrary log use format='generic' with "
    "columns={'user': ..., 'item': ..., 'timestamp': ...}"
)


def _format_from_columns(names: list[str]) -> str | None:
    cols = {n.strip().strip('"') for n in names}
    if names[:4] == ["userId", "itemSeq", "itemId", "label"] or {"userId", "itemSeq", "itemId", "label"} <= cols:
        return "paper-csv"
    if {"InvoiceNo", "StockCode"} <= cols:
        return "online-retail"
    if {"Action", "Timestamp", "UserID", "ItemID"} <= cols:
        return "sobazaar"
    if {"user_id", "item_id", "cat_id", "time_stamp", "action_type"} <= cols:
        return "tmall"
    if {"userId", "movieId", "rating", "timestamp"} <= cols:
        return "movielens"
    guessed = generic.guess_columns(list(cols))
    if all(r in guessed for r in generic.REQUIRED):
        return "generic"
    return None


def detect_format(path: str) -> str:
    """Guess the reader for ``path`` from file names, extension and header; a ``DataError`` when unsure."""
    path = os.fspath(path)
    if os.path.isdir(path):
        files = set(os.listdir(path))
        if files & set(movielens.RATING_FILES):
            return "movielens"
        if files & set(sobazaar.FILE_NAMES):
            return "sobazaar"
        if "user_log_format1.csv" in files or os.path.isfile(
            os.path.join(path, "data_format1", "user_log_format1.csv")
        ):
            return "tmall"
        data = sorted(
            f
            for f in files
            if f.lower().endswith(_DATA_EXTENSIONS) and not f.startswith(".") and not f.endswith("_item_meta.csv")
        )
        if len(data) == 1:
            return detect_format(os.path.join(path, data[0]))
        raise DataError(
            f"cannot tell the format of this folder: it holds {len(data)} data files {data[:10]}; pass one file or "
            + _ADVICE,
            path=path,
        )
    if not os.path.isfile(path):
        raise DataError("no such file or folder", path=path)
    base = os.path.basename(path)
    lower = base.lower()
    if lower in movielens.RATING_FILES:
        return "movielens"
    if lower.startswith("sobazaar"):
        return "sobazaar"
    if lower.startswith("user_log_format1"):
        return "tmall"
    if lower.endswith(".parquet"):
        try:
            names = generic.column_names(path)
        except Exception as e:  # noqa: BLE001  (pyarrow raises several types for a bad file)
            raise DataError(f"cannot read the Parquet schema: {e}", path=path) from None
    elif lower.endswith((".xlsx", ".xls")):
        if "retail" in lower:
            return "online-retail"
        raise DataError("only the online-retail reader reads Excel; save the sheet as CSV, then " + _ADVICE, path=path)
    elif lower.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
        header = c.read_header(path)
        names = header.split("\t") if "\t" in header else header.split(",")
    else:
        raise DataError(f"unknown file type {base!r}; " + _ADVICE, path=path)
    fmt = _format_from_columns([n.strip().strip('"') for n in names])
    if fmt is None:
        raise DataError(f"cannot tell the format from the columns {names}; " + _ADVICE, path=path)
    return fmt


def load_interactions(path: str, format: str | None = None, **options) -> Interactions:
    """Read ``path`` with the reader of ``format`` (detected when None), passing ``options`` to it."""
    path = os.fspath(path)
    fmt = format or detect_format(path)
    if fmt not in READERS:
        raise DataError(f"unknown format {fmt!r}; choose one of {list(READERS)}", path=path)
    reader = READERS[fmt]
    check_options(reader, options, fmt)
    return reader(path, **options)


def check_options(reader: Callable, options: dict, fmt: str) -> None:
    """A ``ValueError`` listing the accepted options when ``options`` holds one the reader does not take."""
    params = inspect.signature(reader).parameters
    accepted = [n for n, p in params.items() if n != "path" and p.kind is not inspect.Parameter.VAR_KEYWORD]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"the {fmt} reader takes no option(s) {unknown}; its options are {accepted}")


__all__ = ["READERS", "check_options", "detect_format", "load_interactions"]
