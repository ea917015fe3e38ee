"""Any CSV / TSV / Parquet interaction log, with a column mapping.

``columns={"user": ..., "item": ..., "timestamp": ..., "rating": optional, "category": optional}`` names the
file's columns; without it, common names are recognised (user_id, userId, customer_id; item_id, movieId,
product_id; timestamp, time, date...). Timestamps may be unix seconds (``timestamp_unit`` for ms/us/ns) or any
parseable date/time (naive ones are UTC). A mapped rating makes the data explicit (label = rating >=
``positive_rating``, preset "movielens"); otherwise it is implicit, preset "tmall" with a category column and
"sobazaar" without. A category column gives each item the first category seen (``category_sep`` splits
multi-category cells such as ``Action|Comedy``).
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from asmg_tf.data.errors import DataError
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.readers import _common as c

ROLES = ("user", "item", "timestamp", "rating", "category")
REQUIRED = ("user", "item", "timestamp")
ALIASES = {
    "user": ("user", "userid", "user_id", "uid", "customer", "customerid", "customer_id", "visitorid", "reviewerid"),
    "item": ("item", "itemid", "item_id", "iid", "movieid", "product", "productid", "product_id", "asin", "sku",
             "stockcode", "article", "article_id"),
    "timestamp": ("timestamp", "time", "ts", "datetime", "date", "event_time", "time_stamp", "unixreviewtime",
                  "invoicedate", "created_at"),
    "rating": ("rating", "score", "stars", "overall"),
    "category": ("category", "category_id", "categoryid", "cat_id", "catid", "cateid", "cate_id", "genre", "genres"),
}  # fmt: skip
EXTENSIONS = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".parquet")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", str(name).strip().lower())


def guess_columns(names: list[str]) -> dict:
    """Map roles to columns by common names; roles with no match are left out."""
    by_norm = {}
    for n in names:
        by_norm.setdefault(_norm(n), n)
    out = {}
    for role, aliases in ALIASES.items():
        for a in aliases:
            if a in by_norm:
                out[role] = by_norm[a]
                break
    return out


def column_names(path: str) -> list[str]:
    """The column names of a CSV/TSV/Parquet file without reading the whole file."""
    if path.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    header = c.read_header(path)
    sep = "\t" if "\t" in header else ","
    return [h.strip().strip('"') for h in header.split(sep)]


def read(
    path: str,
    *,
    columns: dict | None = None,
    timestamp_unit: str = "s",
    positive_rating: float = 4.0,
    category_sep: str | None = None,
    kind: str | None = None,
    history_granularity: str = "timestamp",
    tie_policy: str = "exact",
    dedupe: bool = False,
    sep: str | None = None,
    start=None,
    end=None,
) -> Interactions:
    """Read a generic interaction log; see the module docstring for ``columns`` and the other options."""
    file = c.find_by_extension(path, EXTENSIONS, "interaction file")
    names = column_names(file)
    if columns is None:
        columns = guess_columns(names)
        lacking = [r for r in REQUIRED if r not in columns]
        if lacking:
            raise DataError(
                f"cannot tell which column is the {', '.join(lacking)}; the columns are {names}. Pass "
                "columns={'user': ..., 'item': ..., 'timestamp': ...} (plus 'rating'/'category' if any)",
                path=file,
            )
    unknown = [r for r in columns if r not in ROLES]
    if unknown:
        raise DataError(f"unknown column role(s) {unknown}; roles are {list(ROLES)}", path=file)
    lacking = [r for r in REQUIRED if r not in columns]
    if lacking:
        raise DataError(f"the column mapping lacks {lacking}; it needs at least {list(REQUIRED)}", path=file)
    used = {role: columns[role] for role in ROLES if columns.get(role) is not None}
    missing = [col for col in used.values() if col not in names]
    if missing:
        raise DataError(f"missing column(s) {missing}; the file has {names}", path=file, column=missing[0])

    if file.lower().endswith(".parquet"):
        df = pd.read_parquet(file, columns=list(dict.fromkeys(used.values())))
    else:
        if sep is None:
            sep = "\t" if "\t" in c.read_header(file) else ","
        keep = list(dict.fromkeys(used.values()))
        df = c.read_csv(file, sep=sep, usecols=keep, dtype={used["user"]: str, used["item"]: str})
    dropped: dict = {}
    df = c.drop_missing(
        df, list(dict.fromkeys(used[r] for r in REQUIRED + (("rating",) if "rating" in used else ()))), dropped
    )
    events = pd.DataFrame(
        {
            "user": _ids(df[used["user"]]),
            "item": _ids(df[used["item"]]),
            "timestamp": c.to_unix_seconds(df[used["timestamp"]], file, used["timestamp"], timestamp_unit),
        },
        index=df.index,
    )
    explicit = "rating" in used
    if explicit:
        events["rating"] = c.to_numeric(df[used["rating"]], file, used["rating"], "a rating").astype(np.float32)
    events = c.apply_window(
        events, c.parse_bound(start, file, "start"), c.parse_bound(end, file, "end", end=True), dropped
    )
    if dedupe:
        events = c.count_drop(events, events.duplicated(["user", "item", "timestamp"]).to_numpy(), "duplicate", dropped)
    c.ensure_rows(events, file, dropped)
    item_categories = None
    if "category" in used:
        cats = df.loc[events.index, used["category"]]
        has = cats.notna().to_numpy()
        first = pd.DataFrame({"item": events["item"].to_numpy()[has], "cat": cats.to_numpy()[has]})
        first = first.drop_duplicates("item")
        item_categories = {}
        for i, k in zip(first["item"].tolist(), first["cat"].tolist()):
            if category_sep is not None and isinstance(k, str):
                item_categories[i] = [x.strip() for x in k.split(category_sep) if x.strip()]
            else:
                item_categories[i] = [k]
    if kind is None:
        kind = "movielens" if explicit else ("tmall" if item_categories else "sobazaar")
    return Interactions(
        name=c.dataset_name(path if os.path.isdir(path) else file),
        kind=kind,
        events=events,
        explicit=explicit,
        positive_rating=positive_rating,
        history_granularity=history_granularity,
        item_categories=item_categories,
        dropped=dropped,
        source=file,
        tie_policy=tie_policy,
    )


def _ids(values: pd.Series) -> np.ndarray:
    """Ids as int64 when every value is an exact integer within int64, else as stripped strings (one consistent
    type): ``inf``, ``1e30`` or 20-digit ids stay text, never a float cast that wraps or merges two ids."""
    if pd.api.types.is_integer_dtype(values):
        return values.to_numpy(np.int64)
    strings = values.astype(str).str.strip()
    numbers = pd.to_numeric(strings, errors="coerce")
    if numbers.notna().all() and not c.not_int64(numbers).any():
        return numbers.to_numpy().astype(np.int64)
    return strings.to_numpy()
