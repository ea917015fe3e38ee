"""A chain of base models that continues from its own previous model: the shape of BU, SPMF and IncCTR.

Θ_i = update(Θ_{i-1}, period i), starting from the pretrained model and its Adam state (docs/method.md §4: every
baseline restores the pretrained checkpoint at the first iteration, then its own previous checkpoint, optimizer
slots included). Θ_i serves period i + 1.
"""

from __future__ import annotations

import abc

import tensorflow as tf

from asmg_tf.training.loop import period_seed
from asmg_tf.training.state import create_slots
from asmg_tf.updaters.base import UpdateMethod
from asmg_tf.updaters.baseline_presets import baseline_options, check_resumed_options


class WarmStartMethod(UpdateMethod):
    """Subclasses set ``family`` (their preset key) and implement ``update(i)`` on ``self.model``."""

    family: str = ""

    def __init__(self, ctx, **options):
        super().__init__(ctx, **options)
        self.config = baseline_options(self.family, ctx.kind, options)
        self.model: tf.keras.Model | None = None
        self.optimizer: tf.keras.optimizers.Optimizer | None = None

    @property
    def learning_rate(self) -> float:
        """The method's ``lr`` option, else the base configuration's (IU's) rate."""
        return self.config.get("lr") or self.ctx.config.learning_rate

    def seed(self, i: int) -> int:
        """The shuffle seed of iteration i: the one the IU chain uses, so methods differ only by their idea."""
        return period_seed(self.ctx.config.seed, i)

    def start(self) -> None:
        self.model, self.optimizer = self.ctx.pretrained(self.learning_rate)

    @abc.abstractmethod
    def update(self, i: int) -> None:
        """Train ``self.model`` in place on what period ``i`` brings."""

    def serve(self, i: int) -> tf.keras.Model:
        self.update(i)
        return self.model

    def trackables(self) -> dict[str, tf.Module]:
        return {"model": self.model, "optimizer": self.optimizer}

    def extra_state(self) -> dict:
        return {"config": self.config}

    def restore(self, extra_state: dict) -> None:
        check_resumed_options(self.name or self.family, extra_state.get("config"), self.config)
        self.model, self.optimizer = self.ctx.new_trainable(self.learning_rate)
        create_slots(self.model, self.optimizer)
