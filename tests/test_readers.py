"""Readers, format detection and ``load_period_set``: real-data counts, no leakage, negatives, clear errors."""

import gzip
import time

import numpy as np
import pandas as pd
import pytest

from asmg_tf.data import DataError, PeriodSet
from asmg_tf.data.build import make_period_set
from asmg_tf.data.load import load_period_set
from asmg_tf.data.preprocess import build_samples
from asmg_tf.data.readers import READERS, detect_format, load_interactions, movielens, online_retail, tmall
from asmg_tf.data.readers.paper_csv import read_samples
from asmg_tf.data.synthetic import synthetic_stream

RETAIL_POSITIVES = 386_278  # 397,924 purchases - 1,554 non-product lines - 10,092 same (user, item, time) lines


# ---------------------------------------------------------------- shared fixtures (each real file read once)


@pytest.fixture(scope="module")
def retail(shared_data):
    inter = online_retail.read(str(shared_data / "online-retail-uci"))
    samples, info = build_samples(inter, seed=1234)
    return inter, samples, info


@pytest.fixture(scope="module")
def ml_small(shared_data):
    inter = movielens.read(str(shared_data / "movielens-latest-small"))
    samples, info = build_samples(inter, seed=1234)
    return inter, samples, info


@pytest.fixture(scope="module")
def tmall_dir(tmp_path_factory):
    """A tiny Tmall log: a week of Oct clicks of 5 users, plus rows each filter drops."""
    rows = []
    for day in range(1, 8):
        for user in range(1, 6):
            for j in range(3):  # user u clicks 9 of the 12 items 100..111 over the week
                item = 100 + (3 * user + day + j) % 12
                rows.append((user, item, item % 3 + (day == 2), 500 + item, 7, 1000 + day, 0))
        rows.append((1, 101, 9, 1, 1, 1000 + day, 2))  # a purchase: not a click
    rows.append((6, 100, 0, 1, 1, 1003, 0))  # user 6: one click only, not in the top 5
    rows.append((1, 199, 0, 1, 1, 1003, 0))  # item 199: one click only
    rows.append((2, 100, 0, 1, 1, 930, 0))  # Sep 30: outside October
    d = tmp_path_factory.mktemp("tmall")
    pd.DataFrame(
        rows, columns=["user_id", "item_id", "cat_id", "seller_id", "brand_id", "time_stamp", "action_type"]
    ).to_csv(d / "user_log_format1.csv", index=False)
    return d


@pytest.fixture(scope="module")
def tmall_small(tmall_dir):
    inter = tmall.read(str(tmall_dir), top_users=5, min_item_clicks=2)
    samples, info = build_samples(inter, seed=1)
    return inter, samples, info


@pytest.fixture(scope="module")
def synthetic_small():
    inter = synthetic_stream(seed=3, num_users=300, num_items=200, num_periods=8, events_per_period=400)
    samples, info = build_samples(inter, seed=1)
    return inter, samples, info


def _raw(inter, info):
    """The raw log with remapped ids and the preprocessing's time unit (days for day-granular data)."""
    ev = inter.events
    user = np.searchsorted(info["user_vocab"], ev["user"].to_numpy())
    item = np.searchsorted(info["item_vocab"], ev["item"].to_numpy())
    t = ev["timestamp"].to_numpy()
    t = t // 86400 if inter.history_granularity == "day" else t
    pos = ev["rating"].to_numpy() >= inter.positive_rating if inter.explicit else np.ones(len(ev), bool)
    return pd.DataFrame({"user": user, "item": item, "t": t, "positive": pos})


# ---------------------------------------------------------------- real datasets


def test_online_retail_counts_and_timing(shared_data, retail):
    inter, samples, info = retail
    assert inter.kind == "sobazaar" and not inter.explicit and inter.tie_policy == "snap"
    assert len(inter.events) == RETAIL_POSITIVES
    assert inter.dropped == {
        "missing_CustomerID": 135_080,
        "cancellation": 8_905,
        "non_positive_quantity": 0,
        "non_product_stockcode": 1_554,
        "duplicate": 10_092,
    }
    assert (info["num_users"], info["num_items"], info["item_categories"]) == (4_335, 3_659, None)
    assert len(samples) == 2 * RETAIL_POSITIVES and samples.label.sum() == RETAIL_POSITIVES

    start = time.perf_counter()
    ps = load_period_set(str(shared_data / "online-retail-uci"))
    seconds = time.perf_counter() - start
    print(f"\nOnline Retail load_period_set end to end: {seconds:.2f} s; sizes {[len(p) for p in ps.periods]}")
    assert seconds < 60
    assert isinstance(ps, PeriodSet) and len(ps.periods) == 31 and ps.kind == "sobazaar"
    assert (ps.num_users, ps.num_items) == (4_335, 3_659)
    assert ps.summary["samples"] == 2 * RETAIL_POSITIVES
    sizes = np.array([len(p) for p in ps.periods])
    assert sizes.min() > 0.95 * sizes.mean() and sizes.sum() >= 2 * RETAIL_POSITIVES - 31 * 200
    for a, b in zip(ps.periods[:-1], ps.periods[1:]):  # snap: an invoice (one timestamp) is never cut
        assert a.timestamp.max() < b.timestamp.min()


def test_movielens_latest_small_counts(shared_data, ml_small):
    inter, samples, info = ml_small
    assert inter.kind == "movielens" and inter.explicit
    assert len(samples) == 100_836 and int(samples.label.sum()) == 48_580
    assert (info["num_users"], info["num_items"], info["num_categories"]) == (610, 9_724, 20)
    table = info["item_categories"]
    assert table.dtype == np.int32 and table.shape[0] == 9_724 and (table[:, 0] >= 0).all()
    assert "(no genres listed)" in info["category_vocab"].tolist()
    ps = load_period_set(str(shared_data / "movielens-latest-small"))
    assert len(ps.periods) == 31 and {len(p) for p in ps.periods} == {100_836 // 31}
    windowed = movielens.read(str(shared_data / "movielens-latest-small"), start="2014-01-01", end="2018-12-31")
    assert windowed.summary()["rows_kept"] == 29_374 and windowed.summary()["users"] == 169


def test_movielens_1m_partial_reads_dat_gz(shared_data):
    inter = load_interactions(str(shared_data / "movielens-1m-partial"))
    assert inter.source.endswith("ratings.dat.gz") and inter.kind == "movielens"
    s = inter.summary()
    assert (s["rows_kept"], s["users"], s["items"]) == (487_650, 2_999, 3_615)
    assert int((inter.events["rating"] >= 4).sum()) == 279_124
    assert inter.item_categories[1] == ["Animation", "Children's", "Comedy"]
    assert inter.events["timestamp"].min() == int(pd.Timestamp("2000-10-04 00:52:14", tz="UTC").timestamp())


def test_detect_format_on_real_data(shared_data):
    assert detect_format(shared_data / "online-retail-uci") == "online-retail"
    assert detect_format(shared_data / "online-retail-uci" / "online_retail.parquet") == "online-retail"
    assert detect_format(shared_data / "movielens-latest-small") == "movielens"
    assert detect_format(shared_data / "movielens-latest-small" / "ratings.csv") == "movielens"
    assert detect_format(shared_data / "movielens-1m-partial") == "movielens"
    assert detect_format(shared_data / "movielens-1m-partial" / "ratings.dat.gz") == "movielens"


# ---------------------------------------------------------------- preprocessing properties against the raw log


@pytest.mark.parametrize("dataset", ["retail", "ml_small", "tmall_small", "synthetic_small"])
def test_no_future_leakage_in_histories(dataset, request):
    inter, samples, info = request.getfixturevalue(dataset)
    raw = _raw(inter, info)
    eligible = raw[raw["positive"]]
    t_sample = samples.timestamp // 86400 if inter.history_granularity == "day" else samples.timestamp
    rows = np.random.default_rng(0).choice(len(samples), size=min(3000, len(samples)), replace=False)
    # every history item: an eligible (positive) event of that user strictly earlier
    first = eligible.groupby(["user", "item"])["t"].min()
    r_idx, slot = np.nonzero(np.arange(samples.hist.shape[1])[None, :] < samples.hist_len[rows][:, None])
    keys = pd.MultiIndex.from_arrays([samples.user[rows][r_idx], samples.hist[rows][r_idx, slot]])
    earliest = first.reindex(keys).to_numpy()
    assert not np.isnan(earliest).any(), "a history item the user never had (positively)"
    assert (earliest < t_sample[rows][r_idx]).all(), "a history item from the same time or later"
    # lengths: min(30, number of eligible events strictly earlier); the first item is one of the latest ones
    by_user = {u: g.sort_values("t") for u, g in eligible.groupby("user")}
    for r in rows[:300]:
        g = by_user.get(int(samples.user[r]))
        before = g[g["t"] < t_sample[r]] if g is not None else eligible.iloc[:0]
        assert samples.hist_len[r] == min(30, len(before))
        if len(before):
            latest = before[before["t"] == before["t"].max()]["item"].tolist()
            assert samples.hist[r, 0] in latest


@pytest.mark.parametrize("dataset", ["retail", "tmall_small", "synthetic_small"])
def test_negatives_never_items_the_user_had(dataset, request):
    inter, samples, info = request.getfixturevalue(dataset)
    raw = _raw(inter, info)
    neg = samples.label == 0
    assert neg.sum() == (samples.label == 1).sum()
    first = raw.groupby(["user", "item"])["t"].min()
    t_sample = samples.timestamp // 86400 if inter.history_granularity == "day" else samples.timestamp
    had = first.reindex(pd.MultiIndex.from_arrays([samples.user[neg], samples.item[neg]])).to_numpy()
    assert not (had <= t_sample[neg]).any(), "a negative the user had interacted with by then"


def test_movielens_history_only_positives(ml_small):
    inter, samples, info = ml_small
    raw = _raw(inter, info)
    negative_only = raw.groupby(["user", "item"])["positive"].any()
    mask = np.arange(30)[None, :] < samples.hist_len[:, None]
    keys = pd.MultiIndex.from_arrays([np.broadcast_to(samples.user[:, None], mask.shape)[mask], samples.hist[mask]])
    assert negative_only.reindex(keys).to_numpy().all()
    assert samples.hist_len.max() == 30 and (samples.hist_len == 0).any()


# ---------------------------------------------------------------- the smaller formats, on files written here


def test_sobazaar_reader(tmp_path):
    rows = [  # Action, Timestamp, ItemID, UserID (the public file's column order)
        ("content:interact:product_clicked", "2014-09-01T00:00:14.533Z", "i1", "u1"),
        ("content:interact:product_detail_viewed", "2014-09-01T00:00:14.900Z", "i1", "u1"),
        ("product_wanted", "2014-09-02T10:00:00.000Z", "i2", "u2"),
        ("product_wanted", "2014-09-03T10:00:00.000Z", "i3", ""),  # no user: dropped and counted
        ("purchase:buy_clicked", "2014-12-31T23:59:59.999Z", "i1", "u2"),
    ]
    path = tmp_path / "Sobazaar-hashID.csv.gz"
    with gzip.open(path, "wt") as f:
        pd.DataFrame(rows, columns=["Action", "Timestamp", "ItemID", "UserID"]).to_csv(f, index=False)
    assert detect_format(tmp_path) == "sobazaar" and detect_format(path) == "sobazaar"
    inter = load_interactions(str(tmp_path))
    assert inter.kind == "sobazaar" and not inter.explicit and inter.item_categories is None
    assert inter.dropped == {"missing_UserID": 1} and len(inter.events) == 4
    assert inter.events["timestamp"].tolist()[0] == int(pd.Timestamp("2014-09-01 00:00:14", tz="UTC").timestamp())
    assert inter.events["user"].tolist() == ["u1", "u1", "u2", "u2"]
    assert inter.events["item"].tolist() == ["i1", "i1", "i2", "i1"]


def test_tmall_reader_filters(tmall_dir, tmall_small):
    inter, samples, info = tmall_small
    assert detect_format(tmall_dir) == "tmall"
    assert inter.kind == "tmall" and inter.history_granularity == "day"
    assert inter.dropped["not_click"] == 7 and inter.dropped["after_end"] == 0 and inter.dropped["before_start"] == 1
    assert inter.dropped["not_top_user"] == 1 and inter.dropped["rare_item"] == 1
    assert set(inter.events["user"]) == {1, 2, 3, 4, 5} and 199 not in set(inter.events["item"])
    assert (inter.events["timestamp"] % 86400 == 0).all()
    first_day = inter.events.drop_duplicates("item").set_index("item")
    for item, cats in inter.item_categories.items():
        assert cats == [item % 3 + (first_day.loc[item, "timestamp"] == 1412208000)]  # Oct 2: cat_id + 1
    assert info["item_categories"].shape == (info["num_items"], 1)
    ps = load_period_set(str(tmall_dir), num_periods=7, top_users=5, min_item_clicks=2)
    assert ps.summary["split"] == "day" and len(ps.periods) == 7 and ps.kind == "tmall"


def test_paper_csv_round_trip(tmp_path, synthetic_small, ml_small):
    # Tmall style: no timestamp column, one date per period, single-category meta
    inter, samples, info = synthetic_small
    dates = pd.to_datetime(samples.timestamp // 86400 * 86400, unit="s").strftime("%Y%m%d").astype(int)
    df = pd.DataFrame(
        {
            "userId": samples.user,
            "itemSeq": ["#".join(map(str, h[:n])) for h, n in zip(samples.hist, samples.hist_len)],
            "itemId": samples.item,
            "label": samples.label.astype(int),
            "date": dates,
        }
    )
    path = tmp_path / "tmall_1mth_2014_item20user50k_1neg_30seq.csv"
    df.to_csv(path, index=False)
    pd.DataFrame({"itemId": np.arange(info["num_items"]), "cateId": info["item_categories"][:, 0]}).to_csv(
        tmp_path / "tmall_1mth_2014_item20user50k_1neg_30seq_item_meta.csv", index=False
    )
    assert detect_format(path) == "paper-csv"
    got, got_info = read_samples(str(path))
    day = samples.timestamp // 86400 * 86400
    order = np.argsort(day, kind="stable")
    for k in ("user", "item", "hist", "hist_len", "label"):
        np.testing.assert_array_equal(getattr(got, k), getattr(samples, k)[order])
    np.testing.assert_array_equal(got.timestamp, day[order])
    np.testing.assert_array_equal(got_info["item_categories"], info["item_categories"])
    assert got_info["kind"] == "tmall" and got_info["num_users"] == info["num_users"]
    ps = load_period_set(str(path), num_periods=8)
    assert (
        ps.summary["split"] == "day"
        and ps.kind == "tmall"
        and [len(p) for p in ps.periods] == [int((dates == d).sum()) for d in sorted(set(dates))]
    )

    # MovieLens style: explicit labels, timestamps, '#'-joined genres; equal-count split
    inter, samples, info = ml_small
    n = 6_200
    df = pd.DataFrame(
        {
            "userId": samples.user[:n],
            "itemSeq": ["#".join(map(str, h[:k])) for h, k in zip(samples.hist[:n], samples.hist_len[:n])],
            "itemId": samples.item[:n],
            "label": samples.label[:n].astype(int),
            "date": 20000101,
            "timestamp": samples.timestamp[:n],
        }
    )
    path = tmp_path / "ml_5yr_2014_2018_30seq.csv"
    df.to_csv(path, index=False)
    table = info["item_categories"]
    meta = ["#".join(str(c) for c in row if c >= 0) for row in table]
    pd.DataFrame({"itemId": np.arange(len(meta)), "cateId": meta}).to_csv(
        tmp_path / "ml_5yr_2014_2018_30seq_item_meta.csv", index=False
    )
    got, got_info = read_samples(str(path))
    np.testing.assert_array_equal(got.hist, samples.hist[:n])
    np.testing.assert_array_equal(got_info["item_categories"], table)
    assert got_info["kind"] == "movielens" and got_info["num_categories"] == 20
    ps = load_period_set(str(path))
    assert ps.kind == "movielens" and ps.summary["split"] == "count" and {len(p) for p in ps.periods} == {200}
    assert load_interactions(str(path)).explicit


def test_generic_reader(tmp_path):
    df = pd.DataFrame(
        {
            "visitor": ["a", "b", "a", None, "c"],
            "sku": [1, 2, 2, 3, 1],
            "when": ["2020-01-01 10:00", "2020-01-01 11:00", "2020-01-02 10:00", "2020-01-03", "2020-01-04"],
            "stars": [5, 3, 4, 1, 2],
            "cat": ["x", "y", "y", "z", "x"],
        }
    )
    df.to_csv(tmp_path / "log.csv", index=False)
    inter = load_interactions(
        str(tmp_path / "log.csv"),
        format="generic",
        columns={"user": "visitor", "item": "sku", "timestamp": "when", "rating": "stars", "category": "cat"},
    )
    assert inter.explicit and inter.kind == "movielens" and inter.dropped == {"missing_visitor": 1}
    assert inter.item_categories == {1: ["x"], 2: ["y"]}
    assert inter.events["timestamp"].iloc[0] == int(pd.Timestamp("2020-01-01 10:00", tz="UTC").timestamp())
    df.rename(columns={"visitor": "user_id", "sku": "item_id", "when": "timestamp"}).drop(columns="stars").to_parquet(
        tmp_path / "log.parquet"
    )
    assert detect_format(tmp_path / "log.parquet") == "generic"
    implicit = load_interactions(str(tmp_path / "log.parquet"))  # columns recognised by name
    assert not implicit.explicit and implicit.kind == "sobazaar" and len(implicit.events) == 4


# ---------------------------------------------------------------- errors


def test_error_missing_column(tmp_path):
    path = tmp_path / "ratings.csv"
    pd.DataFrame({"userId": [1], "movieId": [2], "timestamp": [3]}).to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        load_interactions(str(path))
    assert str(path) in str(e.value) and "'rating'" in str(e.value) and e.value.column == "rating"
    path = tmp_path / "log.csv"
    pd.DataFrame({"u": [1], "i": [2]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'ts'.*missing column"):
        load_interactions(str(path), "generic", columns={"user": "u", "item": "i", "timestamp": "ts"})


def test_error_unparseable_timestamp(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame(
        {"user": [1, 2, 3, 4], "item": [1, 1, 2, 2], "ts": ["2020-01-01", "2020-01-02", "yesterday", "x"]}
    ).to_csv(path, index=False)
    with pytest.raises(DataError) as e:
        load_interactions(str(path), "generic", columns={"user": "user", "item": "item", "timestamp": "ts"})
    assert (e.value.path, e.value.row, e.value.column) == (str(path), 3, "ts")
    assert f"file {path}, row 3, column 'ts'" in str(e.value) and "'yesterday'" in str(e.value)


def test_error_empty_and_too_few_rows(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(DataError, match="no usable interactions"):
        load_interactions(str(path))
    pd.DataFrame({"userId": [1, 2, 3], "movieId": [1, 2, 3], "rating": [5, 4, 3], "timestamp": [1, 2, 3]}).to_csv(
        path, index=False
    )
    with pytest.raises(DataError, match=r"ratings.csv.*cannot fill 31 periods"):
        load_period_set(str(path))
    with pytest.raises(DataError, match="no such file"):
        load_period_set(str(tmp_path / "nothing.csv"))


def test_detect_format_unsure(tmp_path):
    (tmp_path / "a.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(DataError, match="format='generic'"):
        detect_format(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("foo,bar\n1,2\n")
    with pytest.raises(DataError, match="2 data files"):
        detect_format(tmp_path)
    with pytest.raises(ValueError, match="takes no option"):
        load_interactions(str(tmp_path / "a.csv"), "movielens", colums={})
    assert set(READERS) == {"online-retail", "movielens", "sobazaar", "tmall", "paper-csv", "generic"}


def test_make_period_set_accepts_reader_output(tmall_small):
    inter, _, _ = tmall_small
    ps = make_period_set(inter, split="count", num_periods=6)
    assert ps.has_categories and ps.item_categories.shape == (ps.num_items, 1)


def test_paper_csv_long_and_bad_histories(tmp_path):
    path = tmp_path / "soba.csv"
    long_seq = "#".join(str(i) for i in range(40))
    path.write_text(
        f"userId,itemSeq,itemId,label,date,timestamp\n0,{long_seq},41,1,20141001,100\n0,{long_seq},7,0,20141001,100\n"
        "1,,3,1,20141001,90\n1,,5,0,20141001,90\n"
    )
    samples, info = read_samples(str(path))
    assert info["kind"] == "sobazaar" and info["item_categories"] is None and info["num_items"] == 42
    assert samples.hist_len.tolist() == [0, 0, 30, 30] and samples.timestamp.tolist() == [90, 90, 100, 100]
    np.testing.assert_array_equal(samples.hist[2], np.arange(30))
    path.write_text("userId,itemSeq,itemId,label,date,timestamp\n0,1#2,3,1,20141001,100\n0,1#x#3,4,0,20141001,100\n")
    with pytest.raises(DataError, match=r"row 2, column 'itemSeq'.*'1#x#3'"):
        read_samples(str(path))


def test_online_retail_csv(tmp_path):
    path = tmp_path / "Online Retail.csv"
    pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "C536379", "536380", "536381", "536381"],
            "StockCode": ["85123A", "POST", "85123A", "22752", "71053", "71053"],
            "Description": ["a", "b", "c", "d", "e", "e"],
            "Quantity": [6, 1, -1, 2, 3, 3],
            "InvoiceDate": ["12/1/2010 8:26", "12/1/2010 8:26", "12/1/2010 9:41", "12/1/2010 9:41", "12/2/2010 10:00",
                            "12/2/2010 10:00"],
            "UnitPrice": [2.55, 1.0, 1.0, 7.65, 3.39, 3.39],
            "CustomerID": [17850.0, 17850.0, 14527.0, None, 13047.0, 13047.0],
            "Country": ["United Kingdom"] * 6,
        }
    ).to_csv(path, index=False)  # fmt: skip
    assert detect_format(path) == "online-retail"
    inter = load_interactions(str(path))
    assert inter.events[["user", "item"]].values.tolist() == [[17850, "85123A"], [13047, "71053"]]
    assert inter.events["timestamp"].iloc[0] == int(pd.Timestamp("2010-12-01 08:26", tz="UTC").timestamp())
    assert inter.dropped == {
        "missing_CustomerID": 1,
        "cancellation": 1,
        "non_positive_quantity": 0,
        "non_product_stockcode": 1,
        "duplicate": 1,
    }


def test_movielens_100k_layout(tmp_path):
    (tmp_path / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t4\t891717742\n196\t302\t5\t881250950\n")
    flags = ["0"] * 19
    action = flags.copy()
    action[1] = action[5] = "1"  # Action, Comedy
    (tmp_path / "u.item").write_bytes(
        ("242|Kolya (1996)|24-Jan-1997||http://x|" + "|".join(action) + "\n").encode("latin-1")
        + ("302|L.A. Confidential (1997)|01-Jan-1997||http://y|" + "|".join(flags) + "\n").encode("latin-1")
    )
    assert detect_format(tmp_path) == "movielens"
    inter = load_interactions(str(tmp_path))
    assert inter.explicit and len(inter.events) == 3
    assert inter.item_categories == {242: ["Action", "Comedy"], 302: ["unknown"]}


def test_tmall_chunks_and_bad_date(tmall_dir, tmall_small, tmp_path):
    chunked = tmall.read(str(tmall_dir), top_users=5, min_item_clicks=2, chunk_rows=10)
    assert chunked.events.equals(tmall_small[0].events) and chunked.dropped == tmall_small[0].dropped
    path = tmp_path / "user_log_format1.csv"
    lines = ["user_id,item_id,cat_id,seller_id,brand_id,time_stamp,action_type"] + ["1,2,3,4,5,1001,0"] * 12
    lines[11] = "1,2,3,4,5,1345,0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"row 11, column 'time_stamp'.*1345"):
        tmall.read(str(path), chunk_rows=4)
