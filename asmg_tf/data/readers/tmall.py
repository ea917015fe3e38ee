"""Tmall (IJCAI-15 repeat buyers, ``data_format1/user_log_format1.csv``): clicks with one category per item.

Columns ``user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type``; ``time_stamp`` is ``mmdd`` of 2014.
As in the paper's ``tmall_preproc.py``: keep clicks (``action_type == 0``) dated ``start..end`` (default October
2014, the paper's 31 days), then the ``top_users`` users with most clicks (ties: smaller user id first), then items
with at least ``min_item_clicks`` clicks. The timestamp is the date at 00:00 UTC and histories use strictly earlier
*days*; an item's category is the first ``cat_id`` seen for it. Preset "tmall"; periods are calendar days.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from asmg_tf.data.errors import DataError
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.readers import _common as c

FILE_NAMES = ("user_log_format1.csv", "data_format1/user_log_format1.csv", "user_log_format1.csv.gz")
COLUMNS = ("user_id", "item_id", "cat_id", "time_stamp", "action_type")
CHUNK_ROWS = 5_000_000


def _mmdd_to_unix(mmdd: pd.Series, year: int, file: str) -> np.ndarray:
    uniques, inverse = np.unique(mmdd.to_numpy(np.int64), return_inverse=True)  # a few hundred distinct days
    dates = pd.to_datetime(
        pd.DataFrame({"year": year, "month": uniques // 100, "day": uniques % 100}), errors="coerce", utc=True
    )
    bad = dates.isna().to_numpy()[inverse]
    if bad.any():
        row, raw = c.first_bad(mmdd, bad)
        raise DataError(f"{raw!r} is not a date as mmdd (e.g. 1001 for Oct 1)", path=file, row=row, column="time_stamp")
    seconds = ((dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy()
    return seconds[inverse].astype(np.int64)


def read(
    path: str,
    *,
    top_users: int | None = 50_000,
    min_item_clicks: int = 20,
    start="2014-10-01",
    end="2014-10-31",
    year: int = 2014,
    chunk_rows: int = CHUNK_ROWS,
) -> Interactions:
    """Read the Tmall user log (a folder holding it, or the file); see the module docstring for the filters."""
    file = c.find_file(path, FILE_NAMES, "Tmall user log")
    header = [h.strip() for h in c.read_header(file).split(",")]
    missing = [col for col in COLUMNS if col not in header]
    if missing:
        raise DataError(f"missing column(s) {missing}; the header is {header}", path=file, column=missing[0])
    lo, hi = c.parse_bound(start, file, "start"), c.parse_bound(end, file, "end", end=True)
    dropped: dict = {}
    parts = []
    reader = c.read_csv(file, usecols=list(COLUMNS), chunksize=chunk_rows)
    try:
        for chunk in reader:
            chunk = c.drop_missing(chunk, list(COLUMNS), dropped)
            action = c.to_numeric(chunk["action_type"], file, "action_type")
            chunk = c.count_drop(chunk, (action != 0).to_numpy(), "not_click", dropped)
            for col in ("user_id", "item_id", "cat_id", "time_stamp"):
                chunk[col] = c.to_int64(chunk[col], file, col)
            ts = _mmdd_to_unix(chunk["time_stamp"], year, file)
            part = pd.DataFrame(
                {"user": chunk["user_id"], "item": chunk["item_id"], "category": chunk["cat_id"], "timestamp": ts},
                index=chunk.index,
            )
            parts.append(c.apply_window(part, lo, hi, dropped))
    except (ValueError, pd.errors.ParserError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"cannot parse as CSV: {e}", path=file) from None
    events = pd.concat(parts) if parts else pd.DataFrame(columns=["user", "item", "category", "timestamp"])
    c.ensure_rows(events, file, dropped)
    if top_users is not None:
        counts = events["user"].value_counts()
        ranked = counts.reset_index().sort_values(["count", "user"], ascending=[False, True], kind="stable")
        keep = set(ranked["user"].iloc[:top_users].tolist())
        events = c.count_drop(events, ~events["user"].isin(keep).to_numpy(), "not_top_user", dropped)
    if min_item_clicks > 1:
        item_counts = events["item"].map(events["item"].value_counts())
        events = c.count_drop(events, (item_counts < min_item_clicks).to_numpy(), "rare_item", dropped)
    c.ensure_rows(events, file, dropped)
    first_cat = events.drop_duplicates("item")  # file order: the first category seen
    item_categories = {int(i): [int(k)] for i, k in zip(first_cat["item"].to_numpy(), first_cat["category"].to_numpy())}
    return Interactions(
        name=c.dataset_name(path if os.path.isdir(path) else file),
        kind="tmall",
        events=events[["user", "item", "timestamp"]],
        history_granularity="day",
        item_categories=item_categories,
        dropped=dropped,
        source=file,
    )
