"""The pipeline's ``MethodContext``: what an update method may read, served from this run's artifacts.

In ``asmg bench`` a method reads a ``Context`` over the whole ``PeriodSet`` and the cached IU chain. In the pipeline
one run knows only its own period, its IU model (and, in the pretraining run, the pretraining spans and the
pretrained checkpoint) plus what the history artifact kept; this class exposes exactly that through the declared
contract (``asmg_tf.updaters.context.MethodContext``), so the pipeline runs the library's methods unchanged. Methods
that need every period at once (``needs_period_set``: SPMF, SML-MF) cannot run here; the component says so.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import numpy as np

from asmg_tf.data.periods import PeriodData, PeriodSet, Protocol
from asmg_tf.generator.streaming import RowSource
from asmg_tf.models.presets import TrainConfig
from asmg_tf.training.loop import compile_model, make_optimizer
from asmg_tf.training.pretrain import new_trainable
from asmg_tf.training.state import create_slots, read_checkpoint
from asmg_tf.updaters.context import ModelAccess
from pipeline import fs
from pipeline.capacity import sizes_namespace

log = logging.getLogger(__name__)


class HistoryContext(ModelAccess):
    """``MethodContext`` over one pipeline run (``ModelAccess`` adds periods_range, train_epoch, evaluate, iu_model).

    Args:
        protocol, config: the run's protocol and base-model settings; kind: the data kind of the presets.
        capacity: table sizes of the models (``{"users", "items", "categories"}``).
        item_categories: the category table padded to the item capacity, or None.
        iu_weights: span -> a function returning that IU model's weights (loaded on demand).
        periods: span -> a function returning that period's data.
        iu_seconds: span -> the seconds of that span's IU epoch, where known.
        iu_rows: span -> a function returning that IU model as a ``RowSource`` (read by row ranges: generation
            streams over them); spans without one are read whole (``iu_weights``).
        pretrained_dir: the pretrained checkpoint (model + Adam state) of the pretraining run, when this is it.
    """

    def __init__(
        self,
        protocol: Protocol,
        config: TrainConfig,
        capacity: dict[str, int],
        item_categories: np.ndarray | None,
        iu_weights: dict[int, Callable[[], dict[str, np.ndarray]]],
        periods: dict[int, Callable[[], PeriodData]],
        *,
        kind: str = "sobazaar",
        iu_seconds: dict[int, float] | None = None,
        pretrained_dir: str | None = None,
        iu_rows: dict[int, Callable[[], RowSource]] | None = None,
    ):
        self.protocol = protocol
        self.config = config
        self.kind = kind
        self.capacity = capacity
        self.item_categories = item_categories
        self.log = log.info
        self._iu = iu_weights
        self._iu_rows = iu_rows or {}
        self._periods = periods
        self._iu_seconds = iu_seconds or {}
        self._pretrained_dir = pretrained_dir
        self._cache: dict[int, PeriodData] = {}

    def at_capacity(self, capacity: dict[str, int]) -> HistoryContext:
        """The same run's context for models of other table sizes (a state saved before the tables grew)."""
        other = copy.copy(self)
        other.capacity = dict(capacity)
        return other

    def new_trainable(self, learning_rate: float | None = None):
        return new_trainable(sizes_namespace(self.capacity), self.config, learning_rate=learning_rate)

    def pretrained(self, learning_rate: float | None = None):
        """The pretrained checkpoint the Trainer wrote in the pretraining run (methods start from it there)."""
        if self._pretrained_dir is None or not fs.exists(fs.join(self._pretrained_dir, "ckpt.index")):
            raise FileNotFoundError(
                "the method asked for the pretrained model, which only the pretraining run (the first update span) "
                "holds; a later run restores the method's own state from the history"
            )
        model, _ = self.new_trainable()
        optimizer = make_optimizer(self.config.learning_rate)
        compile_model(model, optimizer)
        create_slots(model, optimizer)
        read_checkpoint(self._pretrained_dir, model=model, optimizer=optimizer)
        if learning_rate is not None:
            optimizer.learning_rate = learning_rate
        return model, optimizer

    def iu_weights(self, t: int) -> dict[str, np.ndarray]:
        if t not in self._iu:
            raise KeyError(f"the method asked for the IU model of span {t}; this run has {sorted(self._iu)}")
        return self._iu[t]()

    def iu_rows(self, t: int) -> RowSource:
        return self._iu_rows[t]() if t in self._iu_rows else super().iu_rows(t)

    def iu_seconds(self, i: int) -> float | None:
        return self._iu_seconds.get(i)

    def period(self, t: int) -> PeriodData:
        if t not in self._periods:
            raise KeyError(f"the method asked for period {t}; this run has {sorted(self._periods)}")
        if t not in self._cache:
            self._cache[t] = self._periods[t]()
        return self._cache[t]

    def period_set(self) -> PeriodSet:
        """Periods 1..t as one ``PeriodSet`` (later periods empty) when this run holds all of them: a method that
        reads it declares every period in ``carried_inputs`` (SPMF)."""
        from pipeline.trainer_module import empty_period

        last = max(self._periods)
        missing = [t for t in range(1, last + 1) if t not in self._periods]
        if missing:
            raise NotImplementedError(
                f"the method reads every period since 1, but this run holds {sorted(self._periods)}; it must declare "
                "them in carried_inputs"
            )
        periods = [self.period(t) for t in range(1, last + 1)]
        periods += [empty_period() for _ in range(last, self.protocol.num_periods)]
        return PeriodSet(
            name="pipeline",
            kind=self.kind,
            periods=periods,
            num_users=self.capacity["users"],
            num_items=self.capacity["items"],
            num_categories=self.capacity["categories"],
            item_categories=self.item_categories,
            protocol=self.protocol,
        )

    def cache_path(self, name: str) -> str:
        raise NotImplementedError("a pipeline run has no cache shared between runs; state goes into artifacts")
