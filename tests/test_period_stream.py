"""Period data streamed from its file: ``PeriodSet.load`` memory-maps the arrays, ``make_dataset`` gathers one batch
at a time from them, and the batches (so the training) are the ones shuffling the samples themselves gave."""

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.data.periods import HIST_LEN, PeriodData, PeriodSet, Protocol
from asmg_tf.models import EmbeddingMLPRanker, get_weights
from asmg_tf.models import features as F
from asmg_tf.training.loop import compile_model, evaluate, make_optimizer, train_epoch


def _periods(num_periods: int = 6, size: int = 700, users: int = 40, items: int = 30) -> PeriodSet:
    rng = np.random.default_rng(0)
    periods = [
        PeriodData(
            rng.integers(0, users, size).astype(np.int32),
            rng.integers(0, items, size).astype(np.int32),
            rng.integers(0, items, (size, HIST_LEN)).astype(np.int32),
            rng.integers(0, HIST_LEN + 1, size).astype(np.int32),
            rng.integers(0, 2, size).astype(np.float32),
            np.full(size, t, np.int64),
        )
        for t in range(num_periods)
    ]
    cats = (np.arange(items) % 3).astype(np.int32)[:, None]
    return PeriodSet("stream", "tmall", periods, users, items, 3, cats, Protocol.scaled(num_periods))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    periods = _periods()
    path = str(tmp_path_factory.mktemp("periods") / "set")
    periods.save(path)
    return periods, PeriodSet.load(path)


def _sample_batches(data: PeriodData, batch_size: int, shuffle: bool, seed: int | None):
    """The former pipeline: the samples themselves as the dataset (a whole in-memory copy), shuffled, batched."""
    ds = tf.data.Dataset.from_tensor_slices(F.feature_arrays(data, None))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    return list(ds.batch(batch_size))


def test_load_maps_the_arrays_from_the_file(saved):
    periods, loaded = saved
    assert all(isinstance(getattr(p, k), np.memmap) for p in loaded for k in p.arrays())
    for a, b in zip(periods, loaded):
        for k, v in a.arrays().items():
            np.testing.assert_array_equal(getattr(b, k), v)
    np.testing.assert_array_equal(loaded.item_categories, periods.item_categories)
    assert not isinstance(loaded.item_categories, np.memmap)  # small, used by every batch: in memory


@pytest.mark.parametrize("shuffle", [False, True])
def test_streamed_batches_are_the_shuffled_samples_batches(saved, shuffle):
    _, loaded = saved
    data = loaded.period(3)
    tf.keras.utils.set_random_seed(11)
    expected = _sample_batches(data, 64, shuffle, seed=5)
    tf.keras.utils.set_random_seed(11)
    got = list(F.make_dataset(data, None, 64, shuffle=shuffle, seed=5))
    assert len(got) == len(expected) == -(-len(data) // 64)
    for x, y in zip(got, expected):
        assert set(x) == set(y)
        for k in y:
            np.testing.assert_array_equal(x[k].numpy(), y[k].numpy(), err_msg=k)
            assert x[k].shape[1:] == y[k].shape[1:]


def test_categories_are_gathered_per_batch(saved):
    _, loaded = saved
    data = loaded.period(2)
    batch = next(iter(F.make_dataset(data, loaded.item_categories, 32)))
    np.testing.assert_array_equal(batch[F.ITEM_CATS].numpy(), loaded.item_categories[data.item[:32]])
    np.testing.assert_array_equal(batch[F.HIST_CATS].numpy(), loaded.item_categories[data.hist[:32]])


def test_training_on_the_mapped_period_equals_training_in_memory(saved):
    periods, loaded = saved
    weights, scores = [], []
    for data in (periods.period(4), loaded.period(4)):
        tf.keras.utils.set_random_seed(3)
        model = EmbeddingMLPRanker(periods.num_users, periods.num_items, periods.num_categories, embedding_dim=4)
        compile_model(model, make_optimizer(1e-2))
        train_epoch(model, data, periods.item_categories, 50, seed=9)
        weights.append(get_weights(model))
        scores.append(evaluate(model, loaded.period(5), periods.item_categories))
    for k in weights[0]:
        np.testing.assert_array_equal(weights[0][k], weights[1][k], err_msg=k)
    assert scores[0] == scores[1]


def test_an_empty_period_streams_no_batch():
    empty = _periods().period(1).take(slice(0, 0))
    assert list(F.make_dataset(empty, None, 16)) == []


def test_column_spill_reorders_batches_into_mapped_columns(tmp_path):
    from asmg_tf.data.spill import ColumnSpill

    rng = np.random.default_rng(4)
    key = rng.integers(0, 50, 1000)
    rows = rng.normal(size=(1000, 3)).astype(np.float32)
    with ColumnSpill({"key": (np.int64, ()), "rows": (np.float32, (3,))}, dir=str(tmp_path)) as spill:
        for a in range(0, 1000, 333):  # uneven batches
            spill.append({"key": key[a : a + 333], "rows": rows[a : a + 333]})
        np.testing.assert_array_equal(spill.column("key"), key)
        order = np.argsort(spill.column("key"), kind="stable")
        out = spill.ordered(order)
        with pytest.raises(ValueError, match="expected"):
            spill.append({"key": key[:2], "rows": rows[:2, :2]})
    assert list(tmp_path.iterdir()) == []  # the scratch folder is gone; the maps stay readable
    assert isinstance(out["rows"], np.memmap)
    np.testing.assert_array_equal(out["key"], key[order])
    np.testing.assert_array_equal(out["rows"], rows[order])
    with ColumnSpill({"key": (np.int64, ())}, dir=str(tmp_path)) as empty:
        assert empty.ordered(np.zeros(0, np.int64))["key"].shape == (0,)
