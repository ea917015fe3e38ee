"""One entry point from a data path to a ``PeriodSet``: raw logs via a reader, the paper's CSVs as they are."""

from __future__ import annotations

import os

import numpy as np

from asmg_tf.data.build import make_period_set
from asmg_tf.data.errors import DataError
from asmg_tf.data.periods import HIST_LEN, PeriodSet, Protocol
from asmg_tf.data.readers import detect_format, load_interactions
from asmg_tf.data.readers.paper_csv import read_samples
from asmg_tf.data.split import split_periods

_BUILD_OPTIONS = ("tie_policy", "hist_len", "protocol")


def _distinct_days(timestamp: np.ndarray) -> int:
    return int(np.unique(timestamp // 86400).shape[0]) if timestamp.size else 0


def load_period_set(
    path: str,
    format: str | None = None,
    split: str | None = None,
    num_periods: int = 31,
    seed: int = 1234,
    **options,
) -> PeriodSet:
    """Read ``path`` and cut it into ``num_periods`` periods.

    Raw logs go through their reader (``options`` are the reader's, plus ``tie_policy``, ``hist_len`` and
    ``protocol`` for ``make_period_set``) and the paper's preprocessing; ``paper-csv`` files already hold samples
    and are only split (``options``: ``meta_path``, ``hist_len``, ``protocol``). Default ``split``: calendar days
    for day-granular data (Tmall, and paper CSVs covering ``num_periods`` distinct days) that cover at least
    ``num_periods`` days, else equal counts. Input problems come back as ``DataError``s naming the file.
    """
    path = os.fspath(path)
    fmt = format or detect_format(path)
    if fmt == "paper-csv":
        return _paper_period_set(path, split, num_periods, **options)
    build = {k: options.pop(k) for k in _BUILD_OPTIONS if k in options}
    inter = load_interactions(path, fmt, **options)
    if split is None:
        day_data = inter.history_granularity == "day"
        split = "day" if day_data and _distinct_days(inter.events["timestamp"].to_numpy()) >= num_periods else "count"
    try:
        return make_period_set(inter, split=split, num_periods=num_periods, seed=seed, **build)
    except ValueError as e:
        if isinstance(e, DataError):
            raise
        raise DataError(
            f"{e} ({len(inter.events)} interactions left after cleaning)", path=inter.source or path
        ) from None


def _paper_period_set(
    path: str,
    split: str | None,
    num_periods: int,
    *,
    meta_path: str | None = None,
    hist_len: int = HIST_LEN,
    protocol: Protocol | None = None,
) -> PeriodSet:
    samples, info = read_samples(path, meta_path, hist_len=hist_len)
    if split is None:
        split = "day" if _distinct_days(samples.timestamp) == num_periods else "count"
    try:
        periods = split_periods(samples, split, num_periods, "exact")
    except ValueError as e:  # an unknown split or empty periods
        raise DataError(str(e), path=info["source"]) from None
    name = os.path.basename(info["source"])
    for ext in (".gz", ".csv"):
        name = name[: -len(ext)] if name.endswith(ext) else name
    summary = {
        "source": info["source"],
        "meta": info["meta_path"],
        "rows_kept": len(samples),
        "rows_dropped": {},
        "users": int(np.unique(samples.user).shape[0]),
        "items": int(np.unique(samples.item).shape[0]),
        "samples": len(samples),
        "samples_in_periods": sum(len(p) for p in periods),
        "split": split,
    }
    return PeriodSet.from_split(name, info["kind"], periods, info, protocol, summary)


__all__ = ["load_period_set"]
