"""IU, the conventional incremental update: Θ_i = one epoch on D_i starting from Θ_{i-1} (and its Adam state)."""

from __future__ import annotations

import tensorflow as tf

from asmg_tf.updaters.base import UpdateMethod


class IncrementalUpdate(UpdateMethod):
    """Serves the IU chain kept in the shared context (so ASMG reads the very same models)."""

    name = "iu"
    uses_iu_chain = True

    def start(self) -> None:
        self._model = None

    def serve(self, i: int) -> tf.keras.Model:
        self._model = self.ctx.iu_model(i, self._model)
        # report the chain's compute time for this period, also when it came from the cache
        self.reported_seconds = self.ctx.iu_seconds(i)
        return self._model
