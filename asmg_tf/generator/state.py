"""Everything the generator needs to resume, as one checkpointable object (no pickle).

``GeneratorState`` holds the generator weights, the optimizer (Adam slots and iteration count), the carried hidden
states h_{i-k} (docs/method.md §3.5: ``[N, d, H]`` per table, ``[1, P, H]`` per dense tensor) and counters. It is
written with ``asmg_tf.training.state.write_checkpoint`` (atomic rename), so a crash mid-write leaves the previous
complete state.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from asmg_tf.generator.meta_generator import MetaGenerator
from asmg_tf.training.state import create_slots, read_checkpoint, write_checkpoint


class GeneratorState(tf.Module):
    """Generator + optimizer + carried hidden states + counters.

    Args:
        generator: the ``MetaGenerator``.
        optimizer: its optimizer.
        carry_state: keep a hidden state between periods (ASMG-GRUmulti/unif/single); False for zero/full/linear.
    """

    def __init__(self, generator: MetaGenerator, optimizer: tf.keras.optimizers.Optimizer, carry_state: bool):
        super().__init__(name="asmg_state")
        self.generator = generator
        self.optimizer = optimizer
        self.carry_state = bool(carry_state and generator.has_state)
        self._keys = [s.key for s in generator.specs]
        shapes = generator.state_shapes() if self.carry_state else {}
        self.hidden = [tf.Variable(tf.zeros(shapes[k]), trainable=False, name="hidden") for k in shapes]
        #: True once a hidden state was carried over (False: the first window starts from zeros)
        self.has_hidden = tf.Variable(False, trainable=False, name="has_hidden")
        #: generator optimiser steps taken so far (also in optimizer.iterations)
        self.meta_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="meta_steps")
        #: last protocol iteration whose observe() finished; -1 before the first
        self.last_iteration = tf.Variable(-1, dtype=tf.int64, trainable=False, name="last_iteration")

    def initial_state(self) -> dict[str, tf.Tensor] | None:
        """The carried h_{i-k}, or None (zeros) in the first iteration and for variants without carry-over."""
        if not self.carry_state or not bool(self.has_hidden.numpy()):
            return None
        return {k: v.value() for k, v in zip(self._keys, self.hidden)}

    def set_hidden(self, state: Mapping[str, tf.Tensor]) -> None:
        if not self.carry_state:
            raise ValueError("this generator state carries no hidden state")
        for k, v in zip(self._keys, self.hidden):
            v.assign(state[k])
        self.has_hidden.assign(True)

    def ensure_slots(self) -> None:
        """Create the optimizer's slots without a step, so a checkpoint restores into them at once."""
        create_slots(self.generator, self.optimizer)

    def save(self, directory: str) -> str:
        return write_checkpoint(directory, asmg=self)

    def load(self, directory: str) -> None:
        read_checkpoint(directory, asmg=self)
