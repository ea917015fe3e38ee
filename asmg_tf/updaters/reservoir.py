"""Reservoir sampling (Vitter's Algorithm R), vectorised over a chunk of the stream, with checkpointable state.

After N stream elements the reservoir holds a uniform random subset of size min(C, N): every element is in it
with probability C / N. Element number s (0-based, counted over the whole stream) is handled as in Algorithm R:

    s < C:   it fills slot s;
    s >= C:  draw j uniform in {0..s}; if j < C it replaces slot j (so it enters with probability C / (s + 1)
             and evicts a uniformly chosen current element).

A chunk (one period) is processed at once: the draws are independent, and when several accepted elements of the
chunk pick the same slot the last one wins, which is exactly the sequential algorithm's outcome.

SPMF's paper code differs slightly: it draws the acceptances the same way but then evicts |accepted| uniformly
chosen *old* elements, so elements admitted in the same period never evict each other and early elements of a
period are over-represented. We keep the exact algorithm (docs/method.md §4.3 asks for standard reservoir
sampling).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class Reservoir(tf.Module):
    """A fixed-capacity uniform sample of int64 item ids from a stream.

    State (checkpointed with ``tf.train.Checkpoint``): ``items`` [C] (-1 in unfilled slots) and ``seen``, the
    number of stream elements offered so far.

    Args:
        capacity: C >= 1.
        name: module name.
    """

    def __init__(self, capacity: int, name: str | None = None):
        super().__init__(name=name)
        if int(capacity) < 1:
            raise ValueError(f"reservoir capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.items = tf.Variable(tf.fill([self.capacity], tf.constant(-1, tf.int64)), trainable=False, name="items")
        self.seen = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="seen")

    def values(self) -> np.ndarray:
        """The ids currently held (filled slots only), in slot order."""
        items = self.items.numpy()
        return items[: min(self.capacity, int(self.seen.numpy()))]

    def offer(self, stream: np.ndarray, rng: np.random.Generator) -> int:
        """Feed the next elements of the stream, in order; returns how many entered the reservoir."""
        stream = np.asarray(stream, dtype=np.int64).reshape(-1)
        if stream.size == 0:
            return 0
        seen = int(self.seen.numpy())
        s = seen + np.arange(stream.size, dtype=np.int64)  # stream positions
        slot = np.where(s < self.capacity, s, rng.integers(0, s + 1))
        accepted = slot < self.capacity
        slots, ids = slot[accepted], stream[accepted]
        # last writer wins on repeated slots, as in the sequential algorithm
        _, last = np.unique(slots[::-1], return_index=True)
        keep = slots.size - 1 - last
        items = self.items.numpy()
        items[slots[keep]] = ids[keep]
        self.items.assign(items)
        self.seen.assign(seen + stream.size)
        return int(accepted.sum())
