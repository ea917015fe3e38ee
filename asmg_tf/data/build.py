"""From a reader's interaction log to a ``PeriodSet`` ready for the protocol."""

from __future__ import annotations

from asmg_tf.data.interactions import Interactions
from asmg_tf.data.periods import HIST_LEN, PeriodSet, Protocol
from asmg_tf.data.preprocess import build_samples
from asmg_tf.data.split import split_periods


def make_period_set(
    inter: Interactions,
    *,
    split: str = "count",
    num_periods: int = 31,
    protocol: Protocol | None = None,
    tie_policy: str | None = None,
    seed: int = 1234,
    hist_len: int = HIST_LEN,
) -> PeriodSet:
    """Preprocess ``inter`` (histories, negatives, id remapping) and cut it into ``num_periods`` periods."""
    samples, info = build_samples(inter, seed=seed, hist_len=hist_len)
    try:
        periods = split_periods(samples, split, num_periods, tie_policy or inter.tie_policy)
    except ValueError as e:
        raise ValueError(f"{inter.name}: {e}") from None
    summary = inter.summary()
    summary.update(samples=len(samples), samples_in_periods=sum(len(p) for p in periods), split=split)
    return PeriodSet.from_split(inter.name, inter.kind, periods, info, protocol, summary)
