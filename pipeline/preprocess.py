"""The paper's preprocessing for one user and one period, given what earlier periods left behind.

``asmg_tf.data.preprocess`` builds every sample of a whole log at once; a pipeline sees one period at a time, so
this module computes the same samples per user from a carried ``UserHistory`` (docs/method.md §5):

* history of an event: the user's eligible items with a strictly earlier time (``hist_time``: the timestamp, or the
  day for Tmall-like data), the last ``hist_len`` of them, most recent first; eligible = every interaction for
  implicit data, rating >= ``positive_rating`` for explicit data; events ordered by (timestamp, seq);
* implicit data: label 1 and one negative per positive, uniform over the items known so far (``num_items``),
  excluding every item the user had with a first time at or before the positive's; the negative copies the
  positive's user, history and timestamp;
* explicit data: label = rating >= positive_rating, no sampled negatives.

Differences from the batch preprocessing, by necessity: negatives are drawn from the items known so far (the batch
code also draws items that appear only later), with a per-user random stream ``(seed, span, user)`` so any Beam
runner gives the same samples; and ids are the append-only vocabulary's, not ranks of sorted raw ids.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from asmg_tf.data.periods import HIST_LEN

MAX_NEGATIVE_DRAWS = 1000


@dataclasses.dataclass
class UserHistory:
    """What a user's earlier periods leave for the next: eligible history and the items seen (first times)."""

    hist_items: np.ndarray  # int64, oldest first
    hist_times: np.ndarray  # int64 hist_time of each
    seen_items: np.ndarray  # int64, every item the user had (any label)
    seen_times: np.ndarray  # int64 first hist_time of each

    @classmethod
    def empty(cls) -> UserHistory:
        z = np.zeros(0, np.int64)
        return cls(z, z.copy(), z.copy(), z.copy())


@dataclasses.dataclass
class UserEvents:
    """One user's events of the period (any order): target item ids, times and ratings (explicit data)."""

    item: np.ndarray  # int64
    timestamp: np.ndarray  # int64
    seq: np.ndarray  # int64, position in the source log
    hist_time: np.ndarray  # int64, timestamp or day
    rating: np.ndarray | None = None  # float, explicit data only


def trim_history(items: np.ndarray, times: np.ndarray, hist_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep what any later event can still use: every item of the latest time, plus the ``hist_len`` before it.

    (A later event at that same latest time excludes those items; an event after it takes the last ``hist_len``.)
    """
    if items.size == 0:
        return items, times
    last = times[-1]
    tail = int(np.searchsorted(times, last, side="left"))  # times are non-decreasing
    start = max(0, tail - hist_len)
    return items[start:], times[start:]


def user_period(
    user: int,
    events: UserEvents,
    history: UserHistory,
    *,
    num_items: int,
    explicit: bool,
    positive_rating: float = 4.0,
    hist_len: int = HIST_LEN,
    rng: np.random.Generator | None = None,
) -> tuple[dict[str, np.ndarray], UserHistory]:
    """The user's samples of this period (arrays, in event order, a negative right after its positive) and the
    history to carry forward."""
    order = np.lexsort((events.seq, events.timestamp))
    item, ts, seq, ht = (
        a[order].astype(np.int64) for a in (events.item, events.timestamp, events.seq, events.hist_time)
    )
    n = item.size
    if explicit:
        if events.rating is None:
            raise ValueError("explicit data need a rating per event")
        label = (events.rating[order] >= positive_rating).astype(np.float32)
        eligible = label > 0
    else:
        label = np.ones(n, np.float32)
        eligible = np.ones(n, bool)
        if rng is None:
            raise ValueError("implicit data need a random generator for negatives")
    prior_items, prior_times = history.hist_items, history.hist_times
    hist = np.zeros((n, hist_len), np.int64)
    hist_n = np.zeros(n, np.int64)
    excluded = {int(i) for i, t in zip(history.seen_items.tolist(), history.seen_times.tolist())}
    pending_seen = history.seen_times.size and history.seen_times.max() >= (ht.min() if n else 0)
    negatives = np.zeros(n, np.int64)
    j = 0
    while j < n:
        end = j
        while end < n and ht[end] == ht[j]:
            end += 1
        t = ht[j]
        before = prior_items[prior_times < t]
        span_before = item[:j][eligible[:j]]
        seq_items = np.concatenate([before, span_before])[-hist_len:][::-1]
        hist[j:end, : seq_items.size] = seq_items
        hist_n[j:end] = seq_items.size
        if not explicit:
            if pending_seen:  # an earlier period ended inside this time unit: honour first times exactly
                excluded = {int(i) for i, s in zip(history.seen_items.tolist(), history.seen_times.tolist()) if s <= t}
                excluded.update(int(i) for i in item[:j].tolist())
            excluded.update(int(i) for i in item[j:end].tolist())
            for r in range(j, end):
                negatives[r] = _draw_negative(rng, num_items, excluded, user)
        j = end
    samples = _interleave(user, item, hist, hist_n, label, ts, seq, negatives, explicit)
    new_items = np.concatenate([prior_items, item[eligible]])
    new_times = np.concatenate([prior_times, ht[eligible]])
    keep_items, keep_times = trim_history(new_items, new_times, hist_len)
    seen_items, seen_times = _merge_seen(history, item, ht)
    return samples, UserHistory(keep_items, keep_times, seen_items, seen_times)


def _draw_negative(rng: np.random.Generator, num_items: int, excluded: set[int], user: int) -> int:
    for _ in range(MAX_NEGATIVE_DRAWS):
        c = int(rng.integers(0, num_items))
        if c not in excluded:
            return c
    raise RuntimeError(f"could not draw a negative for user {user}: they had almost every one of the {num_items} items")


def _interleave(user, item, hist, hist_n, label, ts, seq, negatives, explicit) -> dict[str, np.ndarray]:
    n = item.size
    if explicit:
        return {
            "user": np.full(n, user, np.int64),
            "item": item,
            "hist": hist,
            "hist_len": hist_n,
            "label": label,
            "timestamp": ts,
            "seq": seq,
        }
    return {
        "user": np.full(2 * n, user, np.int64),
        "item": np.stack([item, negatives], axis=1).reshape(-1),
        "hist": np.repeat(hist, 2, axis=0),
        "hist_len": np.repeat(hist_n, 2),
        "label": np.tile(np.array([1.0, 0.0], np.float32), n),
        "timestamp": np.repeat(ts, 2),
        "seq": np.repeat(seq, 2),
    }


def _merge_seen(history: UserHistory, item: np.ndarray, ht: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of the seen items with this period's, keeping each item's first time; sorted by item id."""
    items = np.concatenate([history.seen_items, item])
    times = np.concatenate([history.seen_times, ht])
    order = np.lexsort((times, items))
    items, times = items[order], times[order]
    first = np.ones(items.size, bool)
    first[1:] = items[1:] != items[:-1]
    return items[first], times[first]
