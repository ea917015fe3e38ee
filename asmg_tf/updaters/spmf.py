"""SPMF, sample-based replay from "Streaming ranking based recommender systems" (docs/method.md §4.3, strategy 2).

State: two reservoirs of past samples (positives, negatives), seeded with a uniform sample of frac x the
pretraining samples of each label and kept uniform over the whole stream by reservoir sampling.

Iteration i, starting from Θ_{i-1}:
  1. the current model scores every reservoir positive; rank them by descending score (rank 0 = highest) and draw
     ratio x |positives of D_i| of them without replacement with probability ∝ exp(rank / |R|), so poorly scored
     ("hard") positives are up to e times likelier;
  2. draw ratio x |negatives of D_i| reservoir negatives uniformly without replacement;
  3. train one epoch, **unshuffled**, on the replayed samples sorted by their period, then D_i in its order;
  4. offer D_i's positives and negatives to the reservoirs.

The paper's code sorts the replay by period with an unstable sort, so the order within a period is arbitrary;
here it is a seeded random order.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from asmg_tf.data.periods import PeriodData, PeriodSet
from asmg_tf.training.loop import predict_logits
from asmg_tf.updaters.reservoir import Reservoir
from asmg_tf.updaters.warm_start import WarmStartMethod


def rank_probabilities(scores: np.ndarray) -> np.ndarray:
    """p_j ∝ exp(rank_j / n) with rank 0 for the highest score (ties broken by position)."""
    n = scores.shape[0]
    rank = np.empty(n, dtype=np.float64)
    rank[np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")] = np.arange(n)
    w = np.exp(rank / max(n, 1))
    return w / w.sum()


def weighted_sample(p: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices drawn one after another with probability ∝ p among those not drawn yet.

    Efraimidis-Spirakis: the k smallest keys E_j / p_j with E_j ~ Exp(1) have exactly that distribution, in O(n).
    """
    n = p.shape[0]
    if not 0 <= k <= n:
        raise ValueError(f"cannot draw {k} of {n} without replacement")
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(divide="ignore"):
        keys = rng.exponential(size=n) / p
    return np.argpartition(keys, k - 1)[:k].astype(np.int64)


class SampleIndex:
    """Global sample ids over a period set: id = (number of samples in earlier periods) + row in its period."""

    def __init__(self, periods: PeriodSet):
        self.periods = periods
        self.offsets = np.concatenate([[0], np.cumsum([len(p) for p in periods.periods])]).astype(np.int64)

    def ids(self, t: int, rows: np.ndarray) -> np.ndarray:
        """Global ids of ``rows`` of period ``t`` (1-based)."""
        return self.offsets[t - 1] + np.asarray(rows, dtype=np.int64)

    def label_ids(self, first: int, last: int, label: float) -> np.ndarray:
        """Global ids of the samples with ``label`` in periods first..last, in stream order."""
        parts = [self.ids(t, np.flatnonzero(self.periods.period(t).label == label)) for t in range(first, last + 1)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def period_of(self, ids: np.ndarray) -> np.ndarray:
        """1-based period of each id."""
        return np.searchsorted(self.offsets, ids, side="right")

    def gather(self, ids: np.ndarray) -> PeriodData:
        """The samples ``ids``, in the given order."""
        ids = np.asarray(ids, dtype=np.int64)
        period = self.period_of(ids)
        template = self.periods.period(1)
        out = {k: np.empty((ids.size, *v.shape[1:]), v.dtype) for k, v in template.arrays().items()}
        for t in np.unique(period):
            where = np.flatnonzero(period == t)
            part = self.periods.period(int(t)).take(ids[where] - self.offsets[t - 1])
            for k, v in part.arrays().items():
                out[k][where] = v
        return PeriodData(**out)


class SPMF(WarmStartMethod):
    """Options: ``frac`` (reservoir size / pretraining samples per label), ``ratio`` (replay / current samples per
    label), ``lr`` (default: the base rate), ``seed``."""

    family = "spmf"

    def __init__(self, ctx, **options):
        super().__init__(ctx, **options)
        frac, ratio = self.config["frac"], self.config["ratio"]
        if not 0 < frac <= 1 or ratio < 0:
            raise ValueError(f"spmf: need 0 < frac <= 1 and ratio >= 0, got frac={frac}, ratio={ratio}")
        self.index = SampleIndex(ctx.period_set())
        end = ctx.protocol.pretrain_end
        self._pretrain = {label: self.index.label_ids(1, end, label) for label in (1.0, 0.0)}
        sizes = {label: int(ids.size * frac) for label, ids in self._pretrain.items()}
        if min(sizes.values()) < 1:
            raise ValueError(f"spmf: frac={frac} of the pretraining samples leaves an empty reservoir ({sizes})")
        self.reservoirs = {1.0: Reservoir(sizes[1.0], name="positives"), 0.0: Reservoir(sizes[0.0], name="negatives")}

    def start(self) -> None:
        super().start()
        rng = np.random.default_rng([self.config["seed"], 0])
        for label, reservoir in self.reservoirs.items():
            reservoir.offer(self._pretrain[label], rng)  # a uniform sample of the pretraining samples

    def replay_ids(self, i: int, rng: np.random.Generator) -> np.ndarray:
        """Ids of the replayed samples of iteration i: hard positives (rank-weighted) and uniform negatives from
        the reservoirs, sorted by period (random order within a period)."""
        data, ratio = self.ctx.period(i), self.config["ratio"]
        positives, negatives = self.reservoirs[1.0].values(), self.reservoirs[0.0].values()
        k_pos = min(int(np.sum(data.label == 1.0) * ratio), positives.size)
        k_neg = min(int(np.sum(data.label == 0.0) * ratio), negatives.size)
        chosen = [np.zeros(0, np.int64)]
        if k_pos:
            scores = predict_logits(self.model, self.index.gather(positives), self.ctx.item_categories)
            chosen.append(positives[weighted_sample(rank_probabilities(scores), k_pos, rng)])
        if k_neg:
            chosen.append(negatives[rng.choice(negatives.size, size=k_neg, replace=False)])
        ids = np.concatenate(chosen)
        return ids[np.lexsort((rng.random(ids.size), self.index.period_of(ids)))]

    def carried_inputs(self, i: int) -> tuple[list[int], list[int]]:
        """Every period so far: the reservoir holds ids of samples since period 1 (``ctx.period_set()``)."""
        return [], list(range(1, i + 1))

    def update(self, i: int) -> None:
        rng = np.random.default_rng([self.config["seed"], i])
        data = self.ctx.period(i)
        train = PeriodData.concat([self.index.gather(self.replay_ids(i, rng)), data])
        for label, reservoir in self.reservoirs.items():
            reservoir.offer(self.index.ids(i, np.flatnonzero(data.label == label)), rng)
        self.ctx.train_epoch(self.model, train, shuffle=False)

    def trackables(self) -> dict[str, tf.Module]:
        return {**super().trackables(), "positives": self.reservoirs[1.0], "negatives": self.reservoirs[0.0]}
