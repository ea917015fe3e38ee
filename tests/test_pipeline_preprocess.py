"""Pipeline building blocks without TFX: per-user preprocessing against the library, span cutting, capacities."""

import numpy as np
import pandas as pd
import pytest

from asmg_tf.data.interactions import Interactions
from asmg_tf.data.preprocess import build_samples
from pipeline import preprocess as P
from pipeline.capacity import grow_capacity, grow_weights, next_capacity, pad_rows
from pipeline.spans import assign_spans


def _log(explicit=False, day=False, seed=0, n=400, users=12, items=30):
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, 20 * 86400, n)) // (3600 if not day else 1) * (3600 if not day else 1)
    ev = pd.DataFrame({"user": rng.integers(0, users, n), "item": rng.integers(0, items, n), "timestamp": ts})
    if explicit:
        ev["rating"] = rng.integers(1, 6, n).astype(float)
    return Interactions("t", "sobazaar", ev, explicit=explicit, history_granularity="day" if day else "timestamp")


def _pipeline_samples(inter, cuts, num_items):
    """Run ``user_period`` per user over consecutive time windows (periods), carrying histories."""
    ev = inter.events.assign(seq=np.arange(len(inter.events)))
    _, info = build_samples(inter)
    item_idx = {raw: i for i, raw in enumerate(info["item_vocab"].tolist())}
    hist_time = ev["timestamp"] // 86400 if inter.history_granularity == "day" else ev["timestamp"]
    histories: dict = {}
    out = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        part = ev[(ev["timestamp"] >= lo) & (ev["timestamp"] < hi)]
        for user, g in part.groupby("user"):
            events = P.UserEvents(
                item=np.array([item_idx[i] for i in g["item"]]),
                timestamp=g["timestamp"].to_numpy(),
                seq=g["seq"].to_numpy(),
                hist_time=hist_time[g.index].to_numpy(),
                rating=g["rating"].to_numpy() if inter.explicit else None,
            )
            s, histories[user] = P.user_period(
                int(user),
                events,
                histories.get(user, P.UserHistory.empty()),
                num_items=num_items,
                explicit=inter.explicit,
                rng=np.random.default_rng(int(user)),
            )
            out.append(s)
    return {k: np.concatenate([s[k] for s in out]) for k in out[0]}


@pytest.mark.parametrize("explicit,day", [(False, False), (True, False), (False, True)])
def test_user_period_matches_the_batch_preprocessing(explicit, day):
    inter = _log(explicit, day)
    samples, info = build_samples(inter)
    cuts = [0, 5 * 86400, 11 * 86400, 12 * 86400, 21 * 86400]  # period boundaries, some mid-day
    got = _pipeline_samples(inter, cuts, info["num_items"])
    user_raw = info["user_vocab"]

    def positives(user, item, hist, hist_len, label, ts):
        keep = label > 0 if not explicit else np.ones_like(label, bool)
        return sorted(
            (int(u), int(i), tuple(h[:n].tolist()), int(t), float(lab))
            for u, i, h, n, t, lab in zip(user[keep], item[keep], hist[keep], hist_len[keep], ts[keep], label[keep])
        )

    lib = positives(
        user_raw[samples.user], samples.item, samples.hist, samples.hist_len, samples.label, samples.timestamp
    )
    pipe = positives(got["user"], got["item"], got["hist"], got["hist_len"], got["label"], got["timestamp"])
    assert pipe == lib
    if not explicit:  # one negative per positive, never an item the user had by then
        assert (got["label"] == 0).sum() == (got["label"] == 1).sum()
        ev = inter.events
        for r in np.flatnonzero(got["label"] == 0)[:200]:
            u, item, t = got["user"][r], got["item"][r], got["timestamp"][r]
            raw_item = info["item_vocab"][item]
            had = ev[(ev["user"] == u) & (ev["item"] == raw_item) & (ev["timestamp"] <= t)]
            assert len(had) == 0


def test_trim_history_keeps_what_later_events_can_use():
    items = np.arange(50)
    times = np.repeat(np.arange(10), 5)  # 5 items per time unit
    keep_i, keep_t = P.trim_history(items, times, hist_len=7)
    assert keep_t[-1] == 9 and (keep_t == 9).sum() == 5  # the whole latest time unit
    assert keep_i[:7].tolist() == list(range(38, 45))  # and the 7 before it


def test_negative_draws_give_up_with_a_clear_error():
    events = P.UserEvents(np.array([0]), np.array([5]), np.array([0]), np.array([5]))
    with pytest.raises(RuntimeError, match="almost every"):
        P.user_period(0, events, P.UserHistory.empty(), num_items=1, explicit=False, rng=np.random.default_rng(0))


def test_assign_spans_by_period_time_ranges():
    bounds = np.array([[10, 19], [20, 29], [29, 40]])  # a tie at 29 straddles periods 2 and 3
    ts = np.array([5, 10, 19, 20, 29, 30, 40, 41])
    assert assign_spans(ts, bounds).tolist() == [0, 1, 1, 2, 2, 3, 3, -1]


def test_capacities_grow_with_headroom_and_keep_rows():
    assert next_capacity(10, 8, 0.5) == 10
    assert next_capacity(10, 11, 0.5) == 17
    cap = grow_capacity({}, {"users": 10, "items": 4, "categories": 0}, 1.0)
    assert cap == {"users": 20, "items": 8, "categories": 0}
    old = {"t": np.ones((3, 2), np.float32), "k": np.zeros(4, np.float32)}
    fresh = {"t": np.full((5, 2), 7, np.float32), "k": np.ones(4, np.float32)}
    grown = grow_weights(old, fresh, {"t": "items"})
    assert grown["t"][:3].tolist() == [[1, 1]] * 3 and grown["t"][3:].tolist() == [[7, 7]] * 2
    assert grown["k"].tolist() == [0] * 4  # same shape: kept
    assert pad_rows(np.ones((2, 3)), 4)[2:].sum() == 0
    with pytest.raises(ValueError):
        grow_weights({"t": np.ones((6, 2))}, {"t": np.ones((5, 2))}, {"t": "items"})
    with pytest.raises(ValueError, match="not an id table"):  # only declared id tables may grow
        grow_weights({"k": np.ones((3, 2))}, {"k": np.ones((5, 2))}, {"t": "items"})
