"""The interface every update method implements, so ``asmg bench`` can run any set of them on the same periods.

The protocol calls, for each iteration i (train on period i, serve period i+1):

    model = method.serve(i)        # incorporate period i; return the model that serves period i+1
    metrics = evaluate(model, D_{i+1})
    method.observe(i)              # D_{i+1} has been scored: methods that learn from it (ASMG, SML) train now

This is the test-then-train order of the paper (docs/method.md §3.6, §8.2): nothing trains on D_{i+1} before
it has been scored. Both runners drive it through ``asmg_tf.updaters.step``, which saves ``trackables()`` and
``extra_state()`` between ``serve(i)`` and ``observe(i)``: a method must continue correctly from a restore there.
A method reads only what ``MethodContext`` (``asmg_tf.updaters.context``) declares.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

import tensorflow as tf

if TYPE_CHECKING:
    from asmg_tf.updaters.context import MethodContext


class UpdateMethod(abc.ABC):
    """Base class of IU, BU, SPMF, IncCTR, SML and the ASMG generators."""

    #: registry name, e.g. "iu"
    name: str = ""
    #: reads the IU chain (``ctx.iu_weights``): the bench runs the chain as a stage before the method
    uses_iu_chain: bool = False
    #: reads every period at once (``ctx.period_set()``): runs where all periods are at hand (asmg bench)
    needs_period_set: bool = False

    def __init__(self, ctx: MethodContext, **options: Any):
        self.ctx = ctx
        self.options = options
        #: compute seconds of the last iteration when the method knows better than wall time (e.g. cached work)
        self.reported_seconds: float | None = None

    def first_iteration(self) -> int:
        """The first iteration this method serves (ASMG with window k starts at update_start + k - 1)."""
        return self.ctx.protocol.update_start

    def start(self) -> None:
        """Set up state before the first iteration (not called when resuming; ``restore`` is)."""

    @abc.abstractmethod
    def serve(self, i: int) -> tf.keras.Model:
        """Incorporate period ``i`` and return the model that serves period ``i + 1``."""

    def observe(self, i: int) -> None:
        """Called after the served model was scored on period ``i + 1``; may learn from that period."""

    def carried_inputs(self, i: int) -> tuple[list[int], list[int]]:
        """(IU models, data periods), among those of periods <= i, that iterations after i will read: what a pipeline
        run passes on to the next (the next run brings period i+1 and its IU model itself). Default: none."""
        return [], []

    def trackables(self) -> dict[str, tf.Module]:
        """TensorFlow objects (models, optimizers, variables) whose state must survive a restart."""
        return {}

    def extra_state(self) -> dict:
        """JSON-serialisable state beyond ``trackables`` (no pickle)."""
        return {}

    def restore(self, extra_state: dict) -> None:
        """Prepare ``trackables()`` to receive a checkpoint and load ``extra_state``; default: ``start()``."""
        self.start()
