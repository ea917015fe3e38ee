"""What ``asmg_tf.updaters.asmg.ASMG`` reads from its ``Context``, served from the pipeline's artifacts.

In ``asmg bench`` the ASMG method reads a shared ``Context`` (the whole ``PeriodSet`` and the cached IU chain). In the
pipeline one run knows only its own period and IU model plus what the history artifact kept; this adapter exposes
exactly that through the same attributes, so the pipeline runs the library's ASMG code unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from asmg_tf.data.periods import PeriodData, Protocol
from asmg_tf.models.presets import TrainConfig
from asmg_tf.training.pretrain import new_trainable
from asmg_tf.updaters.context import ModelAccess
from pipeline.capacity import sizes_namespace


class HistoryContext(ModelAccess):
    """``protocol``, ``config``, ``item_categories``, ``new_trainable()``, ``iu_weights(t)``, ``iu_model(t)``,
    ``period(t)`` and ``evaluate(model, t)`` (``ModelAccess``; the last two for asmg_plus's comparisons).

    Args:
        protocol, config: the run's protocol and base-model settings.
        capacity: table sizes of the models (``{"users", "items", "categories"}``).
        item_categories: the category table padded to the item capacity, or None.
        iu_weights: span -> a function returning that IU model's weights (loaded on demand).
        periods: span -> a function returning that period's data.
    """

    def __init__(
        self,
        protocol: Protocol,
        config: TrainConfig,
        capacity: dict[str, int],
        item_categories: np.ndarray | None,
        iu_weights: dict[int, Callable[[], dict[str, np.ndarray]]],
        periods: dict[int, Callable[[], PeriodData]],
    ):
        self.protocol = protocol
        self.config = config
        self.capacity = capacity
        self.item_categories = item_categories
        self._iu = iu_weights
        self._periods = periods
        self._cache: dict[int, PeriodData] = {}

    def new_trainable(self, learning_rate: float | None = None):
        return new_trainable(sizes_namespace(self.capacity), self.config, learning_rate=learning_rate)

    def iu_weights(self, t: int) -> dict[str, np.ndarray]:
        if t not in self._iu:
            raise KeyError(f"the generator asked for the IU model of span {t}; this run has {sorted(self._iu)}")
        return self._iu[t]()

    def period(self, t: int) -> PeriodData:
        if t not in self._periods:
            raise KeyError(f"the generator asked for period {t}; this run has {sorted(self._periods)}")
        if t not in self._cache:
            self._cache[t] = self._periods[t]()
        return self._cache[t]
