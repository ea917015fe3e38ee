"""The embedded synthetic stream: deterministic, Tmall-shaped, fast, and a setting where memory pays."""

import dataclasses
import time

import numpy as np
import pytest

from asmg_tf.data.build import make_period_set
from asmg_tf.data.split import split_periods
from asmg_tf.data.synthetic import synthetic_stream


@pytest.fixture(scope="module")
def default_set():
    start = time.perf_counter()
    inter = synthetic_stream()
    ps = make_period_set(inter, split="day", num_periods=31)
    return inter, ps, time.perf_counter() - start


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    for v in np.unique(score):  # average ranks of ties
        tie = score == v
        ranks[tie] = ranks[tie].mean()
    pos = label == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_deterministic_given_seed():
    a = synthetic_stream(seed=5, num_users=400, num_items=300, num_periods=10)
    b = synthetic_stream(seed=5, num_users=400, num_items=300, num_periods=10)
    c = synthetic_stream(seed=6, num_users=400, num_items=300, num_periods=10)
    assert a.events.equals(b.events) and a.item_categories == b.item_categories
    assert not a.events.equals(c.events)


def test_default_shape_and_speed(default_set):
    inter, ps, seconds = default_set
    print(f"\nsynthetic default: generate + preprocess {seconds:.2f} s, {ps.meta()['period_sizes']}")
    assert seconds < 10  # ~0.3 s alone; generous on a shared 2-core machine
    assert inter.kind == "tmall" and inter.history_granularity == "day" and not inter.explicit
    assert ps.kind == "tmall" and len(ps.periods) == 31 and ps.num_users == 2000
    assert 1000 < ps.num_items <= 1500
    assert ps.item_categories.shape == (ps.num_items, 1) and ps.item_categories.dtype == np.int32
    assert ps.item_categories.min() == 0 and ps.item_categories.max() == ps.num_categories - 1
    assert ps.num_categories == 20
    sizes = np.array([len(p) for p in ps.periods])
    assert 4_000 < sizes.mean() < 8_000  # ~3,000 clicks a day, one negative each
    days = [np.unique(p.timestamp // 86400) for p in ps.periods]
    assert all(len(d) == 1 for d in days) and np.all(np.diff([d[0] for d in days]) == 1)


def test_arrivals_over_time(default_set):
    _, ps, _ = default_set
    seen_users, seen_items, new_users, new_items = set(), set(), [], []
    for p in ps.periods:
        pos = p.label == 1
        u, i = set(p.user[pos].tolist()), set(p.item[pos].tolist())
        new_users.append(len(u - seen_users))
        new_items.append(len(i - seen_items))
        seen_users |= u
        seen_items |= i
    assert sum(new_users[15:]) > 200 and sum(new_items[15:]) > 100  # still arriving in the second half


def test_long_term_memory_matters(default_set):
    """Item popularity from the same season phase 6 periods ago beats that of 3 periods ago (a different season),
    and a memory of the whole season cycle beats the last 3 periods alone."""
    _, ps, _ = default_set
    counts = [np.bincount(p.item[p.label == 1], minlength=ps.num_items).astype(float) for p in ps.periods]
    res = {"t-3": [], "t-6": [], "last3": [], "last6": []}
    for t in range(24, 31):  # the protocol's test periods 25..31
        p = ps.periods[t]
        prior = 1e-3 * np.sum(counts[:t], axis=0)  # break ties by long-run popularity
        for key, c in (("t-3", counts[t - 3]), ("t-6", counts[t - 6])):
            res[key].append(_auc((c + prior)[p.item], p.label))
        res["last3"].append(_auc((np.sum(counts[t - 3 : t], axis=0) + prior)[p.item], p.label))
        res["last6"].append(_auc((np.sum(counts[t - 6 : t], axis=0) + prior)[p.item], p.label))
    mean = {k: float(np.mean(v)) for k, v in res.items()}
    print(f"\npopularity AUC by memory: {mean}")
    assert mean["t-6"] > mean["t-3"] + 0.01
    assert mean["last6"] > mean["last3"] + 0.005
    assert 0.7 < mean["last3"] < 0.95  # learnable, not trivial


def test_scales_up_parameters():
    inter = synthetic_stream(seed=1, num_users=6000, num_items=5000, num_periods=4)
    s = inter.summary()
    assert s["users"] == 6000 and s["rows_kept"] > 4 * 1.5 * 6000 * 0.75
    assert len({c[0] for c in inter.item_categories.values()}) == 5000 // 75


def test_a_split_with_empty_periods_fails_clearly(default_set):
    _, ps, _ = default_set
    one_timestamp = dataclasses.replace(ps.period(1), timestamp=np.zeros_like(ps.period(1).timestamp))
    # "snap" moves every cut back to the start of the (single) tie group: all samples land in period 3
    with pytest.raises(ValueError, match=r"periods \[1, 2\] are empty; use fewer periods"):
        split_periods(one_timestamp, "count", 3, "snap")
