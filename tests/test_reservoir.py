"""Reservoir sampling: the inclusion probability C / N of every stream element, checked on a large stream."""

import numpy as np
import pytest
import tensorflow as tf

import asmg_tf  # noqa: F401
from asmg_tf.updaters.reservoir import Reservoir


def test_inclusion_probability_is_uniform_over_a_chunked_stream():
    """N = 20,000 elements offered in 10 chunks of 2,000 (periods), C = 500, 400 independent runs.

    Every element must end up in the reservoir with probability C / N = 0.025. Buckets of 500 consecutive
    elements (4 per chunk) are compared with the expectation at 5 sigma; the paper code's batched variant (no
    eviction among elements admitted in the same chunk) would put the first bucket of the last chunk ~10% high.
    """
    n, chunk, capacity, runs = 20_000, 2_000, 500, 400
    counts = np.zeros(n)
    rng = np.random.default_rng(7)
    for _ in range(runs):
        res = Reservoir(capacity)
        for start in range(0, n, chunk):
            res.offer(np.arange(start, start + chunk), rng)
        values = res.values()
        assert values.size == capacity and np.unique(values).size == capacity
        counts[values] += 1
    p = capacity / n
    buckets = counts.reshape(-1, 500).sum(axis=1) / runs / 500
    sigma = np.sqrt(p * (1 - p) / (runs * 500))
    assert np.all(np.abs(buckets - p) < 5 * sigma), (buckets, p, sigma)
    # and element by element: the per-element frequencies look like Binomial(runs, p)
    assert abs(counts.mean() / runs - p) < 1e-9
    assert np.std(counts) == pytest.approx(np.sqrt(runs * p * (1 - p)), rel=0.1)


def test_fill_phase_then_replacement():
    rng = np.random.default_rng(0)
    res = Reservoir(5)
    assert res.offer(np.array([10, 11, 12]), rng) == 3
    np.testing.assert_array_equal(res.values(), [10, 11, 12])
    res.offer(np.array([13, 14, 15, 16]), rng)
    assert int(res.seen.numpy()) == 7 and res.values().size == 5
    assert set(res.values().tolist()) <= set(range(10, 17))
    assert res.offer(np.array([], dtype=np.int64), rng) == 0


def test_acceptance_rate_matches_c_over_s_plus_one():
    """After t elements, element s = t + j enters with probability C / (s + 1)."""
    rng = np.random.default_rng(3)
    capacity, t, runs = 100, 10_000, 2000
    accepted = 0
    for _ in range(runs):
        res = Reservoir(capacity)
        res.seen.assign(t)
        res.items.assign(np.arange(capacity))
        accepted += res.offer(np.array([-5]), rng)
    p = capacity / (t + 1)
    assert abs(accepted / runs - p) < 5 * np.sqrt(p * (1 - p) / runs)


def test_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    res = Reservoir(50)
    res.offer(np.arange(1000), rng)
    tf.train.Checkpoint(r=res).write(str(tmp_path / "ckpt"))
    other = Reservoir(50)
    tf.train.Checkpoint(r=other).read(str(tmp_path / "ckpt")).assert_existing_objects_matched()
    np.testing.assert_array_equal(other.values(), res.values())
    assert int(other.seen.numpy()) == 1000


def test_invalid_capacity():
    with pytest.raises(ValueError, match="capacity"):
        Reservoir(0)
