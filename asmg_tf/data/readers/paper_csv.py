"""The paper's own preprocessed CSVs (``datasets/*.csv`` written by ``preproc/*.py``): samples, not a raw log.

Columns ``userId,itemSeq,itemId,label,date[,timestamp]``: ids already remapped to 0..N-1, ``itemSeq`` the history
'#'-joined most recent first (empty when none), negatives already drawn, ``date`` as yyyymmdd (Tmall has no
``timestamp`` column: its timestamp is the date at 00:00 UTC). The optional item-meta CSV ``itemId,cateId`` gives
one category (Tmall) or a '#'-joined list (MovieLens genres); it is found beside the data as
``<stem>_item_meta.csv`` when ``meta_path`` is not given.

``read_samples`` returns the samples as ``build_samples`` does; ``read`` returns the positives (implicit data) or
the labelled rows (explicit data, rating = label) as an interaction log, for re-preprocessing.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from asmg_tf.data.errors import DataError
from asmg_tf.data.interactions import Interactions
from asmg_tf.data.periods import HIST_LEN, PeriodData
from asmg_tf.data.readers import _common as c

COLUMNS = ("userId", "itemSeq", "itemId", "label")
_CHUNK = 500_000


def meta_path_for(path: str) -> str | None:
    """``<stem>_item_meta.csv`` beside ``path``, when it exists."""
    stem = path[: -len(".gz")] if path.lower().endswith(".gz") else path
    stem = stem[: -len(".csv")] if stem.lower().endswith(".csv") else stem
    candidate = stem + "_item_meta.csv"
    return candidate if os.path.isfile(candidate) else None


def _seq_len(seq: str) -> int:
    return seq.count("#") + 1 if seq else 0


def _valid_seq(seq: str) -> bool:
    """'#'-joined ids, each in [0, 2**31), or empty."""
    return re.fullmatch(r"(\d+(#\d+)*)?", seq) is not None and all(int(x) < 2**31 for x in seq.split("#") if x)


def _parse_seq(seqs: pd.Series, hist_len: int, file: str) -> tuple[np.ndarray, np.ndarray]:
    """'#'-joined histories -> (int32 [N, hist_len] 0-padded, int32 [N] lengths), keeping the most recent."""
    strings = ["" if isinstance(x, float) else x.strip() for x in seqs.tolist()]  # NaN: no history
    lens = np.fromiter(map(_seq_len, strings), dtype=np.int64, count=len(strings))
    n = len(strings)
    hist = np.zeros((n, hist_len), dtype=np.int32)
    total = int(lens.sum())
    if total:
        try:
            flat = np.fromstring(" ".join(strings).replace("#", " "), sep=" ", dtype=np.int64)
        except ValueError:
            flat = None
        if flat is not None and flat.shape[0] == total and flat.size and (flat.max() >= 2**31 or flat.min() < 0):
            flat = None  # an id the int32 history cannot hold: found and named below
        if flat is None or flat.shape[0] != total:  # a non-number or an empty field somewhere
            bad = np.array([not _valid_seq(s) for s in strings], dtype=bool)
            row, raw = c.first_bad(seqs, bad) if bad.any() else (None, None)
            raise DataError(f"not a '#'-joined list of item ids: {raw!r}", path=file, row=row, column="itemSeq")
        if lens.max() <= hist_len:  # the usual case: row-major order of the mask is the order of ``flat``
            hist[np.arange(hist_len)[None, :] < lens[:, None]] = flat
        else:
            row_of = np.repeat(np.arange(n), lens)
            pos = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
            keep = pos < hist_len
            hist[row_of[keep], pos[keep]] = flat[keep]
    return hist, np.minimum(lens, hist_len).astype(np.int32)


def _int32_ids(values: pd.Series, file: str, column: str) -> np.ndarray:
    """Ids as int32, each an exact integer in [0, 2**31): a fraction, an infinity or a larger id is an error at its
    row, never truncated or wrapped around by the cast."""
    ids = c.to_int64(values, file, column, "an id")
    c.reject_rows(values, (ids < 0) | (ids >= 2**31), file, column, lambda raw, n: f"{raw!r} is not an id in "
                  f"[0, 2**31) (the paper's ids are remapped to 0..N-1; {n} such rows)")  # fmt: skip
    return ids.astype(np.int32)


def _labels(values: pd.Series, file: str) -> np.ndarray:
    """Labels in [0, 1] (the paper's files hold 0/1); NaN, infinities and other values are an error at their row."""
    labels = values.to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~((labels >= 0) & (labels <= 1))
    c.reject_rows(values, bad, file, "label", lambda raw, n: f"{raw!r} is not a label in [0, 1] ({n} such rows)")
    return labels.astype(np.float32)


def _date_to_unix(dates: pd.Series, file: str) -> np.ndarray:
    days = pd.Series(c.to_int64(dates, file, "date", "a date as yyyymmdd"), index=dates.index)
    parsed = pd.to_datetime(days.astype(str), format="%Y%m%d", errors="coerce", utc=True)
    bad = parsed.isna().to_numpy()
    if bad.any():
        row, raw = c.first_bad(dates, bad)
        raise DataError(f"{raw!r} is not a date as yyyymmdd", path=file, row=row, column="date")
    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def _data_file(path: str) -> str:
    """``path``, or the one data CSV (not ``*_item_meta.csv``) in the folder ``path``."""
    if not os.path.isdir(path):
        if not os.path.isfile(path):
            raise DataError("no such file or folder", path=path)
        return path
    found = sorted(
        f for f in os.listdir(path) if f.lower().endswith((".csv", ".csv.gz")) and "_item_meta." not in f.lower()
    )
    if len(found) != 1:
        raise DataError(f"expected one paper CSV in this folder, found {found}; pass the file itself", path=path)
    return os.path.join(path, found[0])


def _read_table(file: str, hist_len: int) -> PeriodData:
    """All rows, in file order."""
    header = [h.strip() for h in c.read_header(file).split(",")]
    missing = [col for col in COLUMNS if col not in header]
    if missing:
        raise DataError(f"missing column(s) {missing}; the header is {header}", path=file, column=missing[0])
    if "timestamp" not in header and "date" not in header:
        raise DataError("needs a 'timestamp' or a 'date' column", path=file, column="timestamp")
    usecols = [col for col in header if col in COLUMNS + ("date", "timestamp")]
    parts = []
    reader = c.read_csv(file, usecols=usecols, dtype={"itemSeq": str}, keep_default_na=False, chunksize=_CHUNK)
    try:
        for chunk in reader:
            for col in usecols:
                if col != "itemSeq" and not pd.api.types.is_numeric_dtype(chunk[col]):
                    miss = (chunk[col].astype(str).str.strip() == "").to_numpy()
                    if miss.any():
                        row, _ = c.first_bad(chunk[col], miss)
                        raise DataError("empty value", path=file, row=row, column=col)
                    chunk[col] = c.to_numeric(chunk[col], file, col)
            hist, length = _parse_seq(chunk["itemSeq"], hist_len, file)
            if "timestamp" in chunk:
                ts = c.to_unix_seconds(chunk["timestamp"], file, "timestamp")
            else:
                ts = _date_to_unix(chunk["date"], file)
            parts.append(
                PeriodData(
                    user=_int32_ids(chunk["userId"], file, "userId"),
                    item=_int32_ids(chunk["itemId"], file, "itemId"),
                    hist=hist,
                    hist_len=length,
                    label=_labels(chunk["label"], file),
                    timestamp=ts,
                )
            )
    except (ValueError, pd.errors.ParserError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"cannot parse as CSV: {e}", path=file) from None
    if not parts:
        raise DataError("no rows", path=file)
    data = PeriodData.concat(parts)
    if len(data) == 0:
        raise DataError("no rows", path=file)
    return data


def _read_meta(meta_path: str) -> dict[int, list[int]]:
    df = c.read_csv(meta_path, dtype=str, keep_default_na=False)
    c.require_columns(df, ["itemId", "cateId"], meta_path, "expected the paper's item-meta CSV itemId,cateId")
    items = c.to_int64(df["itemId"], meta_path, "itemId").tolist()
    out = {}
    for r, (i, cats) in enumerate(zip(items, df["cateId"].tolist()), start=1):
        try:
            out[i] = [int(x) for x in cats.split("#") if x.strip() != ""]
        except ValueError:
            raise DataError(
                f"{cats!r} is not a '#'-joined list of category ids", path=meta_path, row=r, column="cateId"
            ) from None
    return out


def read_samples(path: str, meta_path: str | None = None, *, hist_len: int = HIST_LEN) -> tuple[PeriodData, dict]:
    """The paper's samples, sorted by timestamp (stable), and ``info`` shaped as ``build_samples``'s.

    ``info["kind"]`` is the preset: "movielens" unless every positive is followed by its sampled negative (same
    user and time), as in the paper's implicit files; then "tmall" with categories, "sobazaar" without. Ids are
    used as they are: ``num_users`` / ``num_items`` are the largest id + 1 (items also counted from the histories
    and the meta file); the category table is int32 [num_items, C], -1 padded (None without a meta file).
    """
    file = _data_file(path)
    data = _read_table(file, hist_len)
    if meta_path is None:
        meta_path = meta_path_for(file)
    meta = _read_meta(meta_path) if meta_path else None
    for name, arr in (("userId", data.user), ("itemId", data.item), ("itemSeq", data.hist)):
        if arr.size and arr.min() < 0:
            raise DataError("negative ids; the paper's files hold ids remapped to 0..N-1", path=file, column=name)
    num_users = int(data.user.max()) + 1
    num_items = max(int(data.item.max()), int(data.hist.max(initial=0)), max(meta, default=-1) if meta else -1) + 1
    # implicit files list each positive followed by its sampled negative (same user, history and time)
    lab, usr, ts = data.label, data.user, data.timestamp
    implicit = (
        len(data) % 2 == 0
        and bool((lab[0::2] == 1).all() and (lab[1::2] == 0).all())
        and bool((usr[0::2] == usr[1::2]).all() and (ts[0::2] == ts[1::2]).all())
    )
    order = np.argsort(data.timestamp, kind="stable")
    samples = data.take(order)
    info: dict = {
        "num_users": num_users,
        "num_items": num_items,
        "num_categories": 0,
        "item_categories": None,
        "user_vocab": np.arange(num_users),
        "item_vocab": np.arange(num_items),
        "meta_path": meta_path,
        "source": file,
    }
    if meta:
        width = max(1, max(len(v) for v in meta.values()))
        table = np.full((num_items, width), -1, dtype=np.int32)
        for i, cats in meta.items():
            table[i, : len(cats)] = cats
        num_cats = int(table.max()) + 1 if (table >= 0).any() else 0
        info.update(num_categories=num_cats, item_categories=table, category_vocab=np.arange(num_cats))
    info["kind"] = ("tmall" if info["num_categories"] else "sobazaar") if implicit else "movielens"
    return samples, info


def read(path: str, meta_path: str | None = None, *, explicit: bool | None = None) -> Interactions:
    """The paper CSV as an interaction log: positives only (implicit) or every labelled row (explicit, rating = label).

    ``explicit`` defaults to ``info["kind"] == "movielens"`` (see ``read_samples``).
    """
    samples, info = read_samples(path, meta_path)
    if explicit is None:
        explicit = info["kind"] == "movielens"
    keep = slice(None) if explicit else samples.label > 0
    events = pd.DataFrame(
        {"user": samples.user[keep], "item": samples.item[keep], "timestamp": samples.timestamp[keep]}
    )
    if explicit:
        events["rating"] = samples.label[keep]
    cats = None
    if info["item_categories"] is not None:
        table = info["item_categories"]
        cats = {i: [int(x) for x in row if x >= 0] for i, row in enumerate(table.tolist()) if row[0] >= 0}
    has_time = "timestamp" in [h.strip() for h in c.read_header(info["source"]).split(",")]
    return Interactions(
        name=c.dataset_name(info["source"]),
        kind="movielens" if explicit else ("tmall" if cats else "sobazaar"),
        events=events,
        explicit=explicit,
        positive_rating=1.0,
        history_granularity="timestamp" if has_time else "day",
        item_categories=cats,
        source=info["source"],
    )
