"""The embedded default dataset: a synthetic click stream where long-term memory pays.

How a click of period ``t`` (one synthetic day, 2014-10-01 onwards) is drawn:

* a user, among those who have arrived by ``t``, with a heavy-tailed activity weight (log-normal); every user
  also clicks once in the period of arrival, so all ``num_users`` users appear;
* a topic (= the item category), from a mixture of
  - the user's stable taste: a few topics with Dirichlet weights, redrawn at random moments (abrupt personal
    shifts, probability ``shift_prob`` per user and period);
  - the user's taste for the current *season*: seasons last ``season_length`` periods and cycle through
    ``num_seasons``, each with its own topics, so what a user liked 4-6 periods ago comes back (with the defaults,
    the season of period t is that of t - 6, and of t - 1 half the time);
  - short global trends: now and then a random topic is hot for ``trend_length`` periods;
* an item of that topic among those released by ``t``, by a Zipf-like popularity (exponent ``zipf_exponent``),
  new items boosted in their first two periods.

Users and items keep arriving (``new_user_fraction``, ``new_item_fraction`` arrive after period 1). A model that
forgets the previous seasons has to relearn them each time they return; one that remembers does not. The stream is
implicit with one category per item (preset "tmall"); histories use strictly earlier days, as on Tmall. Everything
is a deterministic function of ``seed``. Defaults take well under a second to generate and preprocess; for Tmall
scale use e.g. ``num_users=50000, num_items=40000`` (events per period default to 1.5 per user).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asmg_tf.data.interactions import Interactions

_DAY = 86400


def _pick(weights_cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Column index per row: the first column whose cumulative weight exceeds ``u`` (rows sum to 1)."""
    return np.minimum((weights_cum < u[:, None]).sum(axis=1), weights_cum.shape[1] - 1)


def synthetic_stream(
    seed: int = 0,
    num_users: int = 2000,
    num_items: int = 1500,
    num_periods: int = 31,
    events_per_period: int | None = None,
    *,
    num_topics: int | None = None,
    num_seasons: int = 3,
    season_length: int = 2,
    season_topics: int | None = None,
    seasonal_weight: float = 0.5,
    stable_topics: int = 4,
    user_season_topics: int = 2,
    shift_prob: float = 0.03,
    trend_prob: float = 0.15,
    trend_length: int = 3,
    trend_weight: float = 0.15,
    zipf_exponent: float = 1.0,
    novelty_boost: float = 3.0,
    new_user_fraction: float = 0.3,
    new_item_fraction: float = 0.3,
    activity_sigma: float = 1.0,
    size_jitter: float = 0.2,
    start_date: str = "2014-10-01",
) -> Interactions:
    """A synthetic implicit click log with recurring seasons, abrupt shifts and arrivals; see the module docstring.

    Args:
        seed: the only source of randomness.
        num_users, num_items: sizes of the id spaces (users/items that never click are absent from the log).
        num_periods: periods = days; ``events_per_period`` clicks per day on average (default 1.5 x num_users).
        num_topics: item categories (default one per ~75 items, at least 20); ``season_topics`` of them per
            season (default num_topics // 5), the others are evergreen.
        seasonal_weight: mean share of a user's clicks that follow the current season.
        stable_topics, user_season_topics: how many topics a user's stable / per-season taste spreads over.
        shift_prob: chance per user and period that the stable taste is redrawn.
        trend_prob, trend_length, trend_weight: global trends: start chance per period, duration, click share.
        zipf_exponent: item popularity ~ rank ** -zipf_exponent.
        novelty_boost: popularity multiplier of an item in its first two periods.
        new_user_fraction, new_item_fraction: shares arriving uniformly over periods 2..num_periods.
        activity_sigma: log-normal spread of user activity.
        size_jitter: period sizes vary uniformly by +- this fraction.
        start_date: the date of period 1 (UTC).
    """
    if num_users < 1 or num_items < 1 or num_periods < 1:
        raise ValueError("num_users, num_items and num_periods must be positive")
    rng = np.random.default_rng(seed)
    if events_per_period is None:
        events_per_period = max(1, int(round(1.5 * num_users)))
    if num_topics is None:
        num_topics = max(20, num_items // 75)
    num_topics = max(1, min(num_topics, num_items))
    if season_topics is None:
        season_topics = max(1, num_topics // 5)
    season_topics = min(season_topics, max(1, num_topics // max(1, num_seasons)))
    if num_seasons * season_topics > num_topics:
        raise ValueError(f"{num_seasons} seasons x {season_topics} topics exceed the {num_topics} topics")

    # items: topic (skewed sizes), popularity, release period
    topic_share = rng.dirichlet(np.full(num_topics, 2.0))
    item_topic = rng.choice(num_topics, size=num_items, p=topic_share)
    item_topic[rng.permutation(num_items)[:num_topics]] = np.arange(num_topics)  # every topic has an item
    popularity = rng.permutation(np.arange(1, num_items + 1)).astype(np.float64) ** -zipf_exponent
    item_arrival = _arrivals(rng, num_items, new_item_fraction, num_periods)

    # topics of the seasons: disjoint random sets; users: activity, arrival, tastes
    topic_perm = rng.permutation(num_topics)
    season_sets = topic_perm[: num_seasons * season_topics].reshape(num_seasons, season_topics)
    activity = rng.lognormal(0.0, activity_sigma, size=num_users)
    user_arrival = _arrivals(rng, num_users, new_user_fraction, num_periods)
    k_stable = min(stable_topics, num_topics)
    stable_topic = _choose_rows(rng, num_users, num_topics, k_stable)
    stable_w = rng.dirichlet(np.ones(k_stable), size=num_users).cumsum(axis=1)
    k_season = min(user_season_topics, season_topics)
    season_topic = np.stack(
        [season_sets[s][_choose_rows(rng, num_users, season_topics, k_season)] for s in range(num_seasons)], axis=1
    )  # [U, S, k]
    season_w = rng.dirichlet(np.ones(k_season), size=(num_users, num_seasons)).cumsum(axis=2)
    seasonality = np.clip(seasonal_weight + 0.15 * rng.standard_normal(num_users), 0.0, 0.95)

    day0 = int(pd.Timestamp(start_date, tz="UTC").timestamp()) // _DAY * _DAY
    trends: list[tuple[int, int]] = []  # (topic, last period)
    users_out, items_out, times_out = [], [], []
    for t in range(num_periods):
        # abrupt personal shifts: redraw the stable taste of some users
        shifted = np.flatnonzero(rng.random(num_users) < shift_prob) if t > 0 else np.empty(0, dtype=np.int64)
        if shifted.size:
            stable_topic[shifted] = _choose_rows(rng, shifted.size, num_topics, k_stable)
            stable_w[shifted] = rng.dirichlet(np.ones(k_stable), size=shifted.size).cumsum(axis=1)
        if rng.random() < trend_prob:
            trends.append((int(rng.integers(num_topics)), t + trend_length - 1))
        hot = np.array([k for k, last in trends if last >= t], dtype=np.int64)

        n = max(1, int(round(events_per_period * (1.0 + size_jitter * rng.uniform(-1.0, 1.0)))))
        active = np.flatnonzero(user_arrival <= t)
        p = activity[active] / activity[active].sum()
        arriving = np.flatnonzero(user_arrival == t)  # a user arrives with a click
        m = max(0, n - arriving.size)
        users = active[np.minimum(np.searchsorted(p.cumsum(), rng.random(m), side="right"), active.size - 1)]
        users = np.concatenate([arriving, users])
        n = users.size

        season = (t // max(1, season_length)) % num_seasons
        kind = rng.random(n)
        topics = stable_topic[users, _pick(stable_w[users], rng.random(n))]
        in_season = kind < seasonality[users]
        su = users[in_season]
        topics[in_season] = season_topic[su, season, _pick(season_w[su, season], rng.random(su.size))]
        if hot.size:
            trending = rng.random(n) < trend_weight
            topics[trending] = hot[rng.integers(hot.size, size=int(trending.sum()))]

        weight = np.where(item_arrival <= t, popularity, 0.0)
        weight *= np.where((item_arrival <= t) & (item_arrival >= t - 1) & (t > 0), novelty_boost, 1.0)
        items = _sample_in_topic(rng, topics, item_topic, weight, num_topics)

        users_out.append(users)
        items_out.append(items)
        times_out.append(day0 + t * _DAY + np.sort(rng.integers(0, _DAY, size=n)))

    events = pd.DataFrame(
        {
            "user": np.concatenate(users_out).astype(np.int64),
            "item": np.concatenate(items_out).astype(np.int64),
            "timestamp": np.concatenate(times_out).astype(np.int64),
        }
    )
    seen = np.unique(events["item"].to_numpy())
    return Interactions(
        name="synthetic",
        kind="tmall",
        events=events,
        history_granularity="day",
        item_categories={int(i): [int(item_topic[i])] for i in seen},
        source=(
            f"synthetic_stream(seed={seed}, num_users={num_users}, num_items={num_items}, num_periods={num_periods}, "
            f"events_per_period={events_per_period}, num_topics={num_topics})"
        ),
    )


def _arrivals(rng: np.random.Generator, n: int, new_fraction: float, num_periods: int) -> np.ndarray:
    """0 for the first ``(1 - new_fraction) * n`` ids (at least one), later ones uniform over 1..num_periods-1."""
    arrival = np.zeros(n, dtype=np.int64)
    n_new = min(n - 1, int(round(new_fraction * n))) if num_periods > 1 else 0
    if n_new > 0:
        arrival[rng.permutation(n)[:n_new]] = rng.integers(1, num_periods, size=n_new)
    return arrival


def _choose_rows(rng: np.random.Generator, rows: int, n: int, k: int) -> np.ndarray:
    """``rows`` x ``k`` distinct values of 0..n-1 per row."""
    return np.argsort(rng.random((rows, n)), axis=1)[:, :k] if n <= 64 else _choose_rows_large(rng, rows, n, k)


def _choose_rows_large(rng: np.random.Generator, rows: int, n: int, k: int) -> np.ndarray:
    out = rng.integers(0, n, size=(rows, k))
    for j in range(1, k):  # redraw collisions with earlier columns (rare when n >> k)
        while True:
            dup = (out[:, j : j + 1] == out[:, :j]).any(axis=1)
            if not dup.any():
                break
            out[dup, j] = rng.integers(0, n, size=int(dup.sum()))
    return out


def _sample_in_topic(
    rng: np.random.Generator, topics: np.ndarray, item_topic: np.ndarray, weight: np.ndarray, num_topics: int
) -> np.ndarray:
    """One item per event from its topic by ``weight``; an event whose topic has no released item picks any item."""
    order = np.lexsort((np.arange(item_topic.size), item_topic))
    w_sorted = weight[order]
    cum = np.cumsum(w_sorted)
    seg_end = np.searchsorted(item_topic[order], np.arange(num_topics), side="right")
    seg_start = np.concatenate([[0], seg_end[:-1]])
    before = np.where(seg_start > 0, cum[np.maximum(seg_start - 1, 0)], 0.0)
    total = np.where(seg_end > 0, cum[np.maximum(seg_end - 1, 0)], 0.0) - before
    t_total = total[topics]
    empty = t_total <= 0
    if empty.any():  # fall back to the whole catalogue
        t_total = np.where(empty, cum[-1], t_total)
    lo = np.where(empty, 0.0, before[topics])
    target = lo + rng.random(topics.size) * t_total
    pos = np.searchsorted(cum, target, side="right")
    pos = np.minimum(pos, item_topic.size - 1)
    # guard against landing on a zero-weight slot at a segment edge (float round-off)
    zero = w_sorted[pos] <= 0
    if zero.any():
        pos[zero] = np.searchsorted(cum, cum[pos[zero]], side="left")
    return order[pos]
