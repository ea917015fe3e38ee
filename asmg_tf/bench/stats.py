"""Statistics over bench replicates: mean and spread, and paired differences with a 95 % confidence interval.

Primary interval: Student's t-interval over replicates of the per-replicate paired difference d_r = m_r(A) − m_r(B)
of the mean test AUC (the same seed and periods for A and B in replicate r):

    mean ± t_{0.975, n−1} · sd / √n,   sd = sqrt(Σ (d_r − mean)² / (n − 1))

Secondary (reported beside, never used for the verdict): a paired bootstrap over replicates × test periods, which
resamples replicates and test periods independently with replacement and takes the 2.5 / 97.5 percentiles of the
resampled mean difference. No SciPy: ``T_975`` tabulates the two-sided 95 % t quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: t_{0.975, df} for df = 1..30 (two-sided 95 %; standard tables, e.g. Abramowitz & Stegun 26.10), then 40, 60, 120
T_975 = {
    **dict(
        enumerate(
            [
                12.706,
                4.303,
                3.182,
                2.776,
                2.571,
                2.447,
                2.365,
                2.306,
                2.262,
                2.228,
                2.201,
                2.179,
                2.160,
                2.145,
                2.131,
                2.120,
                2.110,
                2.101,
                2.093,
                2.086,
                2.080,
                2.074,
                2.069,
                2.064,
                2.060,
                2.056,
                2.052,
                2.048,
                2.045,
                2.042,
            ],
            start=1,
        )
    ),  # fmt: skip
    40: 2.021,
    60: 2.000,
    120: 1.980,
}
Z_975 = 1.959964

CI_METHOD = "95% t-interval over replicates of the per-replicate paired difference of mean test AUC"
BOOTSTRAP_METHOD = "95% paired bootstrap over replicates x test periods (2000 resamples; reported, not used)"


def t_quantile_975(df: int) -> float:
    """t_{0.975, df}: the table for df ≤ 30 and at 40/60/120, linear in 1/df between those and to the normal."""
    if df < 1:
        raise ValueError(f"a t quantile needs df >= 1, got {df}")
    if df in T_975:
        return T_975[df]
    knots = [(40, T_975[40]), (60, T_975[60]), (120, T_975[120]), (math.inf, Z_975)]
    lo = (30, T_975[30])
    for hi in knots:
        if df < hi[0]:
            x, x0, x1 = 1 / df, 1 / lo[0], 1 / hi[0]  # 1/inf = 0
            return lo[1] + (hi[1] - lo[1]) * (x - x0) / (x1 - x0)
        lo = hi
    return Z_975


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """(mean, sample sd with n − 1); sd is None for fewer than 2 values."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def t_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """95 % t-interval of the mean of ``values``; None for fewer than 2 values (no spread to judge by)."""
    mean, sd = mean_sd(values)
    if sd is None:
        return None
    half = t_quantile_975(len(values) - 1) * sd / math.sqrt(len(values))
    return mean - half, mean + half


def paired_bootstrap(diffs: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float] | None:
    """95 % percentile interval of the mean of ``diffs`` [replicates, periods] (per-period paired differences),
    resampling replicates and periods independently with replacement; None for fewer than 2 replicates."""
    diffs = np.asarray(diffs, dtype=np.float64)
    n, p = diffs.shape
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, size=(resamples, n))
    cols = rng.integers(0, p, size=(resamples, p))
    means = np.array([diffs[np.ix_(r, c)].mean() for r, c in zip(rows, cols)])
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def verdict(ci: Sequence[float] | None) -> str:
    """``win`` / ``loss`` when the interval excludes zero, ``no significant difference`` otherwise."""
    if ci is None:
        return "no interval (one replicate)"
    if ci[0] > 0:
        return "win"
    if ci[1] < 0:
        return "loss"
    return "no significant difference"


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """Paired difference ``a − b`` per replicate: ``{"mean", "sd", "ci95", "verdict", "per_replicate"}``."""
    if len(a) != len(b):
        raise ValueError(f"paired values need the same replicates, got {len(a)} and {len(b)}")
    diffs = [x - y for x, y in zip(a, b)]
    mean, sd = mean_sd(diffs)
    ci = t_interval(diffs)
    return {
        "mean": mean,
        "sd": sd,
        "ci95": None if ci is None else list(ci),
        "verdict": verdict(ci),
        "per_replicate": diffs,
    }
