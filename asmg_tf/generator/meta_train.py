"""Meta-training of the generator on the period after each step's input model (docs/method.md §3.4, §8.3).

With a window of T models Θ_{i-T+1..i}, the step-j output (1-based) is scored on D_{i-T+j+1}; the loss is
L = sum_j λ_j meanBCE_j. One epoch: nb = ceil(|D_{i+1}| / meta_bs) optimiser steps; every target period is shuffled
independently and cut into the same nb batches (sizes differ by at most one within a period), and step b feeds
batch b of every target period at once (``BatchLoader2`` of the paper's code).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from asmg_tf.data.periods import PeriodData
from asmg_tf.generator.functional import substituted
from asmg_tf.generator.meta_generator import MetaGenerator
from asmg_tf.generator.row_gather import touched_rows
from asmg_tf.models import features as F

LOSS_WEIGHTS = ("linear", "uniform", "exp", "last")


def loss_weights(kind: str, length: int) -> list[float]:
    """λ_1..λ_T: linear j / sum j (ASMG-GRUmulti), uniform 1/T, exp e^j / sum e^j', last = only step T."""
    j = np.arange(1, length + 1, dtype=np.float64)
    if kind == "linear":
        w = j / j.sum()
    elif kind == "uniform":
        w = np.full(length, 1.0 / length)
    elif kind == "exp":
        w = np.exp(j - j.max()) / np.exp(j - j.max()).sum()
    elif kind == "last":
        w = (j == length).astype(np.float64)
    else:
        raise ValueError(f"loss weighting must be one of {LOSS_WEIGHTS}, got {kind!r}")
    return [float(x) for x in w]


def num_batches(newest_size: int, batch_size: int) -> int:
    """nb = ceil(|D_{i+1}| / meta_bs), with explicit ceil (docs/method.md §8.4 #10)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    return max(1, math.ceil(newest_size / batch_size))


def period_batches(size: int, nb: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A shuffled permutation of ``range(size)`` cut into ``nb`` parts (every part non-empty when size >= nb)."""
    if size < nb:
        raise ValueError(f"a target period of {size} samples cannot feed {nb} batches")
    return np.array_split(rng.permutation(size), nb)


def feature_batch(data: PeriodData, index: np.ndarray, item_categories: np.ndarray | None) -> dict[str, tf.Tensor]:
    """The model's features (and label) for ``data[index]``, as tensors."""
    return {k: tf.constant(v) for k, v in F.feature_arrays(data.take(index), item_categories).items()}


class MetaTrainer:
    """Optimiser steps of the generator through a base model's forward pass.

    Args:
        model: a built base model whose ``call(features)`` returns logits ``[B]``; it is only used as a function
            (its variables are never read or changed).
        generator: the ``MetaGenerator`` built from ``model``.
        optimizer: the generator's optimizer (its slots persist across periods).
        row_gather: generate only the table rows the step's batches touch (True), or whole tables (the paper's
            code; same values and gradients, cost grows with table size).
    """

    def __init__(
        self,
        model: tf.keras.Model,
        generator: MetaGenerator,
        optimizer: tf.keras.optimizers.Optimizer,
        *,
        row_gather: bool = True,
    ):
        self.model = model
        self.generator = generator
        self.optimizer = optimizer
        self.row_gather = bool(row_gather)
        self._compiled: dict[tuple, Callable] = {}

    def loss(
        self,
        window: Mapping[str, tf.Tensor],
        state: Mapping[str, tf.Tensor] | None,
        batches: Sequence[Mapping[str, tf.Tensor]],
        steps: Sequence[int],
        weights: Sequence[float],
    ) -> tf.Tensor:
        """sum_j weights[j] * meanBCE(model generated after ``steps[j]``, ``batches[j]``)."""
        specs = self.generator.specs
        rows = touched_rows(specs, self.model, batches) if self.row_gather else None
        generated = self.generator.outputs(window, state, rows, steps=list(steps))
        length = next(iter(window.values())).shape[0]
        total = tf.constant(0.0)
        for batch, step, w in zip(batches, steps, weights):
            with substituted(specs, generated[step % length]):
                logits = self.model(batch)
            labels = tf.cast(batch[F.LABEL], logits.dtype)
            total += w * tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
        return total

    def _train_step(self, window, state, batches, steps, weights):
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.loss(window, state, batches, steps, weights)
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss

    def _step_function(self, window, state, batches, steps, weights) -> Callable:
        """A ``tf.function`` per (window shapes, targets, feature layout), traced once: the batch dimension is
        left open, so batches of different sizes (periods cut into nb parts) never trigger a retrace."""
        exact = lambda t: tf.TensorSpec(t.shape, t.dtype)  # noqa: E731
        open_batch = lambda t: tf.TensorSpec([None, *t.shape[1:]], t.dtype)  # noqa: E731
        signature = [
            tf.nest.map_structure(exact, dict(window)),
            tf.nest.map_structure(exact, dict(state)) if state is not None else None,
            tuple({k: open_batch(v) for k, v in b.items()} for b in batches),
        ]
        key = (repr(signature), steps, weights)
        fn = self._compiled.get(key)
        if fn is None:
            if state is None:  # no initial state: trace without it
                traced = tf.function(
                    lambda w, b: self._train_step(w, None, b, steps, weights),
                    input_signature=[signature[0], signature[2]],
                    autograph=False,
                )
                fn = lambda w, s, b: traced(w, b)  # noqa: E731
            else:
                fn = tf.function(
                    lambda w, s, b: self._train_step(w, s, b, steps, weights),
                    input_signature=signature,
                    autograph=False,
                )
            if len(self._compiled) >= 8:  # ASMG-GRUfull changes its window every period: keep the recent ones
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[key] = fn
        return fn

    def train_step(
        self,
        window: Mapping[str, tf.Tensor],
        state: Mapping[str, tf.Tensor] | None,
        batches: Sequence[Mapping[str, tf.Tensor]],
        steps: Sequence[int],
        weights: Sequence[float],
    ) -> float:
        """One optimiser step on one batch per target; returns the weighted loss."""
        batches = tuple({k: tf.convert_to_tensor(v) for k, v in b.items()} for b in batches)
        steps, weights = tuple(int(s) for s in steps), tuple(float(w) for w in weights)
        return float(self._step_function(window, state, batches, steps, weights)(window, state, batches))

    def train_epoch(
        self,
        window: Mapping[str, tf.Tensor],
        state: Mapping[str, tf.Tensor] | None,
        targets: Sequence[PeriodData],
        steps: Sequence[int],
        weights: Sequence[float],
        item_categories: np.ndarray | None,
        batch_size: int,
        *,
        seed: Sequence[int] | int = 0,
        max_steps: int | None = None,
        on_step: Callable[[int, float], None] | None = None,
    ) -> dict:
        """One epoch over the targets (``targets[-1]`` is the newest and sets nb); returns loss/step statistics.

        ``targets[j]`` is scored on the output after window step ``steps[j]`` with weight ``weights[j]``.
        Each target is shuffled with its own generator seeded by ``(seed..., j)``, so a resumed run repeats it.
        """
        if not (len(targets) == len(steps) == len(weights)):
            raise ValueError("targets, steps and weights must have the same length")
        seed = [seed] if isinstance(seed, int) else list(seed)
        nb = num_batches(len(targets[-1]), batch_size)
        splits = [period_batches(len(d), nb, np.random.default_rng(seed + [j])) for j, d in enumerate(targets)]
        start, losses = time.perf_counter(), []
        for b in range(nb if max_steps is None else min(nb, max_steps)):
            batches = [feature_batch(d, parts[b], item_categories) for d, parts in zip(targets, splits)]
            losses.append(self.train_step(window, state, batches, steps, weights))
            if on_step:
                on_step(b, losses[-1])
        return {"loss": float(np.mean(losses)), "steps": len(losses), "num_batches": nb,
                "seconds": time.perf_counter() - start}  # fmt: skip
