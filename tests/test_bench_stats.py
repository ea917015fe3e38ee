"""Bench statistics on hand-computed cases: mean ± sd, t-intervals, verdicts, the bootstrap, and the replicate summary
(no TensorFlow)."""

import math

import numpy as np
import pytest

from asmg_tf.bench import stats
from asmg_tf.bench.replicates import replicate_seeds, summarize
from asmg_tf.bench.report import format_summary


def test_mean_and_sample_sd():
    assert stats.mean_sd([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, math.sqrt(5 / 3)))  # Σ(x-m)² = 5, n-1 = 3
    assert stats.mean_sd([0.7]) == (0.7, None)
    with pytest.raises(ValueError):
        stats.mean_sd([])


def test_t_interval_by_hand():
    # d = 0.010, 0.012, 0.011, 0.013, 0.009: mean 0.011, sd = sqrt(10e-6 / 4) = 0.00158114, t(0.975, 4) = 2.776,
    # half width = 2.776 * 0.00158114 / sqrt(5) = 0.00196293
    low, high = stats.t_interval([0.010, 0.012, 0.011, 0.013, 0.009])
    assert (low, high) == pytest.approx((0.011 - 0.00196293, 0.011 + 0.00196293), abs=1e-8)
    # d = 0.01, 0.02, 0.03: mean 0.02, sd 0.01, t(0.975, 2) = 4.303: 0.02 ± 0.0248434
    assert stats.t_interval([0.01, 0.02, 0.03]) == pytest.approx((0.02 - 0.0248434, 0.02 + 0.0248434), abs=1e-7)
    assert stats.t_interval([0.5]) is None


def test_paired_difference_verdicts():
    iu = [0.80, 0.81, 0.79, 0.80, 0.82]
    win = stats.paired_difference([x + d for x, d in zip(iu, [0.010, 0.012, 0.011, 0.013, 0.009])], iu)
    assert win["mean"] == pytest.approx(0.011) and win["verdict"] == "win"
    assert win["per_replicate"] == pytest.approx([0.010, 0.012, 0.011, 0.013, 0.009])
    loss = stats.paired_difference(iu, [x + d for x, d in zip(iu, [0.010, 0.012, 0.011, 0.013, 0.009])])
    assert loss["verdict"] == "loss" and loss["ci95"][1] < 0
    noise = stats.paired_difference([x + d for x, d in zip(iu[:3], [0.01, -0.02, 0.015])], iu[:3])
    assert noise["verdict"] == "no significant difference" and noise["ci95"][0] < 0 < noise["ci95"][1]
    one = stats.paired_difference([0.9], [0.8])
    assert one["ci95"] is None and one["sd"] is None and one["mean"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="same replicates"):
        stats.paired_difference([0.1, 0.2], [0.1])


def test_t_quantiles_match_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in list(range(1, 31)) + [35, 40, 50, 60, 90, 120, 500, 10_000]:
        # the table is to 3 decimals; between its knots, linear in 1/df is within 0.002
        assert stats.t_quantile_975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=2e-3)
    with pytest.raises(ValueError):
        stats.t_quantile_975(0)


def test_paired_bootstrap():
    constant = np.full((4, 7), 0.003)
    assert stats.paired_bootstrap(constant) == pytest.approx((0.003, 0.003))
    rng = np.random.default_rng(1)
    diffs = 0.01 + 0.002 * rng.standard_normal((5, 7))
    low, high = stats.paired_bootstrap(diffs)
    assert diffs.min() < low < diffs.mean() < high < diffs.max()
    assert stats.paired_bootstrap(diffs) == (low, high)  # seeded
    assert stats.paired_bootstrap(diffs[:1]) is None


def test_replicate_seeds():
    assert replicate_seeds(None) == [None]
    assert replicate_seeds(7) == [7]
    assert replicate_seeds(None, repeats=3) == [123, 124, 125]  # the preset seed first: replicate 1 = a plain run
    assert replicate_seeds(10, repeats=2) == [10, 11]
    assert replicate_seeds(None, seeds=[5, 3]) == [5, 3]
    with pytest.raises(ValueError):
        replicate_seeds(None, seeds=[5, 5])
    with pytest.raises(ValueError):
        replicate_seeds(None, repeats=0)


def _replicate(seed: int, aucs: dict[str, list[float]]) -> dict:
    """A bench replicate's results as ``run_methods`` writes them: test iterations 2-3 (iteration 1 is warm-up)."""
    methods = {}
    for name, per in aucs.items():
        rows = [{"iteration": i + 1, "auc": a, "logloss": 1 - a, "seconds": 1.0} for i, a in enumerate(per)]
        methods[name] = {
            "mean_auc": sum(per[1:]) / 2,
            "mean_logloss": sum(1 - a for a in per[1:]) / 2,
            "seconds": 3.0,
            "per_period": rows,
        }
    return {
        "dataset": "toy",
        "test_iterations": [2, 3],
        "config": {"seed": seed},
        "stages": {"pretrain_seconds": 1.0},
        "methods": methods,
        "replicate": {"seed": seed, "sample_seed": 1234},
    }


def test_summary_of_replicates_by_hand():
    reps = [
        _replicate(1, {"iu": [0.5, 0.80, 0.82], "gen": [0.5, 0.81, 0.83], "bad": [0.5, 0.70, 0.72]}),
        _replicate(2, {"iu": [0.5, 0.78, 0.80], "gen": [0.5, 0.80, 0.80], "bad": [0.5, 0.69, 0.70]}),
        _replicate(3, {"iu": [0.5, 0.79, 0.79], "gen": [0.5, 0.80, 0.80], "bad": [0.5, 0.68, 0.70]}),
    ]
    s = summarize(reps, ["iu", "gen", "bad"], reference="gen", planned=5)
    iu, gen, bad = (s["methods"][m] for m in ("iu", "gen", "bad"))
    # iu means per replicate: 0.81, 0.79, 0.79 -> mean 0.796667, sd = sqrt((0.013333² + 2 * 0.006667²) / 2) = 0.011547
    assert iu["mean_auc"] == pytest.approx(0.7966667) and iu["auc_sd"] == pytest.approx(0.011547, abs=1e-6)
    assert [r["mean_auc"] for r in iu["replicates"]] == pytest.approx([0.81, 0.79, 0.79])
    assert [r["seed"] for r in gen["replicates"]] == [1, 2, 3]
    # gen - iu per replicate: 0.01, 0.01, 0.01 -> sd 0, interval [0.01, 0.01] -> win
    assert gen["diff_vs_iu"]["mean"] == pytest.approx(0.01)
    assert gen["diff_vs_iu"]["ci95"] == pytest.approx([0.01, 0.01]) and gen["diff_vs_iu"]["verdict"] == "win"
    assert gen["diff_vs_iu"]["bootstrap_ci95"] is not None
    # bad - iu: 0.71-0.81, 0.695-0.79, 0.69-0.79 = -0.1, -0.095, -0.1: mean -0.098333, sd 0.0028868,
    # half = 4.303 * 0.0028868 / sqrt(3) = 0.0071717
    d = bad["diff_vs_iu"]
    assert d["mean"] == pytest.approx(-0.0983333)
    assert d["ci95"] == pytest.approx([-0.0983333 - 0.0071717, -0.0983333 + 0.0071717], abs=1e-6)
    assert d["verdict"] == "loss" and d["logloss"]["mean"] == pytest.approx(0.0983333)
    assert "diff_vs_iu" not in iu and "diff_vs_reference" not in gen and bad["diff_vs_reference"]["verdict"] == "loss"
    # per-period means and sd over replicates (iteration 2: iu 0.80, 0.78, 0.79)
    row = iu["per_period"][1]
    assert row["iteration"] == 2 and row["auc"] == pytest.approx(0.79) and row["auc_sd"] == pytest.approx(0.01)
    assert s["replicates_setup"]["count"] == 3 and s["replicates_setup"]["planned"] == 5
    assert s["config"]["seed"] == [1, 2, 3]
    table = format_summary(s)
    assert "win" in table and "loss" in table and "t-interval" in table and "3 of 5 replicate(s)" in table
    noisy = summarize(reps[:2] + [_replicate(3, {"iu": [0.5, 0.79, 0.79], "gen": [0.5, 0.70, 0.70]})], ["iu", "gen"])
    assert noisy["methods"]["gen"]["diff_vs_iu"]["verdict"] == "no significant difference"
    assert "no significant difference" in format_summary(noisy)


def test_paired_periods_must_match():
    a = _replicate(1, {"iu": [0.5, 0.8, 0.8], "gen": [0.5, 0.8, 0.8]})
    a["methods"]["gen"]["per_period"] = a["methods"]["gen"]["per_period"][:2]
    with pytest.raises(ValueError, match="different test iterations"):
        summarize([a, _replicate(2, {"iu": [0.5, 0.8, 0.8], "gen": [0.5, 0.8, 0.8]})], ["iu", "gen"])
