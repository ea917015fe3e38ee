"""Cut time-sorted samples into periods: equal counts (the paper's Sobazaar/MovieLens cut) or calendar units."""

from __future__ import annotations

import numpy as np
import pandas as pd

from asmg_tf.data.periods import PeriodData

SPLITS = ("count", "day", "week", "month")


def split_equal_count(samples: PeriodData, num_periods: int, tie_policy: str = "exact") -> list[PeriodData]:
    """Cut into ``num_periods`` chunks of ``int(N / num_periods)`` rows, dropping the leftover (docs/method.md §1.2).

    ``tie_policy="exact"`` cuts at row counts as the paper does (a tie group may straddle two periods);
    ``"snap"`` moves each cut back to the start of its timestamp tie group, so samples with one timestamp (a whole
    invoice, a positive and its negative) stay in one period. Samples must be sorted by timestamp.
    """
    n = len(samples)
    size = n // num_periods
    if size == 0:
        raise ValueError(f"{n} samples cannot fill {num_periods} periods")
    cuts = np.arange(num_periods + 1) * size
    if tie_policy == "snap":
        ts = samples.timestamp
        cuts[1:-1] = np.searchsorted(ts, ts[cuts[1:-1]], side="left")
        # the last period ends where the leftover begins, also snapped to a tie boundary
        cuts[-1] = np.searchsorted(ts, ts[cuts[-1] - 1], side="right") if cuts[-1] < n else n
    elif tie_policy != "exact":
        raise ValueError(f"tie_policy must be 'exact' or 'snap', got {tie_policy!r}")
    return [samples.take(slice(int(a), int(b))) for a, b in zip(cuts[:-1], cuts[1:])]


def split_calendar(samples: PeriodData, unit: str, num_periods: int | None = None) -> list[PeriodData]:
    """One period per calendar ``unit`` (day/week/month, UTC). With ``num_periods``, keep the last that many units."""
    times = pd.to_datetime(samples.timestamp, unit="s", utc=True)
    freq = {"day": "D", "week": "W", "month": "M"}[unit]
    keys = times.tz_localize(None).to_period(freq).astype("int64").to_numpy()
    bounds = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(samples)]])
    parts = [samples.take(slice(int(a), int(b))) for a, b in zip(starts, ends)]
    if num_periods is not None:
        if len(parts) < num_periods:
            raise ValueError(f"the data cover {len(parts)} {unit}s, fewer than the {num_periods} periods asked for")
        parts = parts[-num_periods:]
    return parts


def split_periods(
    samples: PeriodData, by: str = "count", num_periods: int = 31, tie_policy: str = "exact"
) -> list[PeriodData]:
    """``samples`` cut into ``num_periods`` periods (``by`` = "count" or a calendar unit); every period non-empty."""
    if by == "count":
        periods = split_equal_count(samples, num_periods, tie_policy)
    elif by in SPLITS:
        periods = split_calendar(samples, by, num_periods)
    else:
        raise ValueError(f"unknown split {by!r}; choose one of {SPLITS}")
    empty = [t for t, p in enumerate(periods, start=1) if len(p) == 0]
    if empty:
        raise ValueError(f"periods {empty} are empty; use fewer periods or another split")
    return periods
