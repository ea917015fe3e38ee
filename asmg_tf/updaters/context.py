"""What an update method may use (``MethodContext``), and the bench's implementation of it (``Context``).

``MethodContext`` is the whole contract between a method and whatever runs it: ``asmg bench`` (``Context``: every
period of a ``PeriodSet``, a cached pretrained model and IU chain) and the TFX pipeline
(``pipeline.generator_context.HistoryContext``: what this run's artifacts and the history artifact hold). A method
reads nothing else. The IU chain is an explicit stage (``Context.run_iu_chain``, run before the methods that read
it); reading an IU model that does not exist is an error, never a side effect that trains one.
"""

from __future__ import annotations

import json
import os
import time
import typing
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from asmg_tf.data.periods import PeriodData, PeriodSet, Protocol
from asmg_tf.files import write_json
from asmg_tf.generator.streaming import ArrayRows, RowSource
from asmg_tf.locking import exclusive
from asmg_tf.models.presets import TrainConfig
from asmg_tf.models.registry import describe
from asmg_tf.models.weights import get_weights, load_weights_npz, save_weights_npz, set_weights
from asmg_tf.npz_rows import NpzRows
from asmg_tf.training.loop import evaluate, period_seed, train_epoch
from asmg_tf.training.pretrain import new_trainable, pretrain_cached
from asmg_tf.training.state import read_checkpoint, write_checkpoint

Log = Callable[[str], None]


class MethodContext(typing.Protocol):
    """What an update method may read. ``period``/``periods_range`` return only periods the protocol lets it see
    (up to the one it is training on, and i+1 in ``observe(i)``)."""

    protocol: Protocol
    config: TrainConfig  # the base model's training settings (learning rate, batch size, seed, ...)
    item_categories: np.ndarray | None  # [items, C] category ids, -1 padded; None without categories
    kind: str  # the data kind of the paper's presets: tmall, sobazaar or movielens
    log: Log  # progress messages

    def period(self, t: int) -> PeriodData: ...

    def periods_range(self, first: int, last: int) -> PeriodData: ...

    def new_trainable(self, learning_rate: float | None = None) -> tuple[tf.keras.Model, tf.keras.optimizers.Optimizer]:
        """A fresh (model, optimizer) pair of the base architecture at this run's table sizes."""

    def pretrained(self, learning_rate: float | None = None) -> tuple[tf.keras.Model, tf.keras.optimizers.Optimizer]:
        """(model, optimizer) at the pretrained state, Adam slots included (read once, at ``start()``)."""

    def iu_weights(self, t: int) -> dict[str, np.ndarray]:
        """The IU model after training on period t (it must exist: the runner makes the chain first)."""

    def iu_rows(self, t: int) -> RowSource:
        """The same IU model, readable by row ranges (generation streams over the rows of the id tables)."""

    def iu_model(self, i: int, model: tf.keras.Model | None = None) -> tf.keras.Model: ...

    def iu_seconds(self, i: int) -> float | None:
        """The compute seconds of IU's epoch on period i, when known."""

    def evaluate(self, model: tf.keras.Model, t: int) -> dict[str, float]: ...

    def train_epoch(self, model: tf.keras.Model, data: PeriodData, *, shuffle: bool = True, seed: int | None = None,
                    batch_size: int | None = None) -> float: ...  # fmt: skip

    def period_set(self) -> PeriodSet:
        """Every period at once, for methods that index all samples (``UpdateMethod.needs_period_set``: SPMF's
        reservoir, SML-MF's own pretraining). A context that holds only some periods raises ``NotImplementedError``."""

    def cache_path(self, name: str) -> str:
        """A folder where a method may keep work reused by later runs on the same data (SML-MF's MF pretraining)."""


class ModelAccess:
    """The ``MethodContext`` members that follow from the others (``new_trainable()``, ``iu_weights(i)``,
    ``period(t)``, ``item_categories``, ``config``), shared by the bench's ``Context`` and the pipeline's
    ``HistoryContext``."""

    def periods_range(self, first: int, last: int) -> PeriodData:
        """Periods first..last as one ``PeriodData`` (in order)."""
        return PeriodData.concat([self.period(t) for t in range(first, last + 1)])

    def train_epoch(
        self, model: tf.keras.Model, data, *, shuffle: bool = True, seed: int | None = None, batch_size=None
    ):
        return train_epoch(
            model, data, self.item_categories, batch_size or self.config.batch_size, shuffle=shuffle, seed=seed
        )

    def evaluate(self, model: tf.keras.Model, t: int) -> dict[str, float]:
        """AUC and LogLoss of ``model`` on period ``t``."""
        return evaluate(model, self.period(t), self.item_categories)

    def iu_rows(self, t: int) -> RowSource:
        """``iu_weights(t)`` by row ranges; a context that keeps the models in files reads only the rows asked for."""
        return ArrayRows(self.iu_weights(t))

    def iu_model(self, i: int, model: tf.keras.Model | None = None) -> tf.keras.Model:
        """A base model holding the IU weights of iteration ``i`` (``model`` is reused when given)."""
        if model is None:
            model, _ = self.new_trainable()
        set_weights(model, self.iu_weights(i))
        return model


class Context(ModelAccess):
    """Shared state of one bench run.

    Args:
        periods: the data.
        config: base-model training settings.
        cache_dir: where the pretrained model and the IU chain are kept (reused by later runs on the same data and
            settings).
        options: per-method options, ``{method_name: {key: value}}``.
        log: where progress messages go.
    """

    def __init__(
        self,
        periods: PeriodSet,
        config: TrainConfig,
        cache_dir: str,
        *,
        options: dict | None = None,
        log: Log = print,
        progress: Callable | None = None,
    ):
        self.periods = periods
        self.config = config
        self.cache_dir = cache_dir
        self.options = options or {}
        self.log = log
        self.progress = progress
        os.makedirs(cache_dir, exist_ok=True)

    @property
    def protocol(self):
        return self.periods.protocol

    @property
    def item_categories(self) -> np.ndarray | None:
        return self.periods.item_categories

    @property
    def kind(self) -> str:
        return self.periods.kind

    def period(self, t: int):
        return self.periods.period(t)

    def periods_range(self, first: int, last: int) -> PeriodData:
        return self.periods.periods_range(first, last)

    def period_set(self) -> PeriodSet:
        return self.periods

    def cache_path(self, name: str) -> str:
        return os.path.join(self.cache_dir, name)

    def new_trainable(self, learning_rate: float | None = None):
        """A fresh (model, optimizer) pair of the base architecture."""
        return new_trainable(self.periods, self.config, learning_rate=learning_rate)

    # -- pretraining ---------------------------------------------------------------------------------------------
    def pretrained(self, learning_rate: float | None = None):
        """(model, optimizer) at the pretrained state, weights *and* Adam slots; computed once, then cached.

        Pretraining always runs at the configured rate; ``learning_rate`` is the rate the returned optimizer
        continues with (set after the restore: the checkpoint carries the optimizer's own rate)."""
        model, optimizer = self.new_trainable()
        with exclusive(self.cache_dir, sweep=True):  # one builder per cache entry; a waiter then reads the cache
            self._pretrain_cached(model, optimizer)
        if learning_rate is not None:
            optimizer.learning_rate = learning_rate
        return model, optimizer

    def _pretrain_cached(self, model, optimizer) -> None:
        pretrain_cached(
            os.path.join(self.cache_dir, "pretrain"),
            model,
            optimizer,
            self.periods,
            self.config,
            what=f"pretraining on periods 1-{self.protocol.pretrain_end}",
            log=self.log,
            on_epoch=lambda e, m: self.log(
                f"  epoch {e}: last-batch loss {m['train_loss']:.4f}, period-{self.protocol.update_start} AUC {m['auc']:.4f}"
            ),
        )

    def pretrain_info(self) -> dict:
        with open(os.path.join(self.cache_dir, "pretrain", "info.json")) as f:
            return json.load(f)

    # -- the IU chain ---------------------------------------------------------------------------------------------
    def iu_dir(self) -> str:
        return os.path.join(self.cache_dir, "iu")

    def iu_weights_path(self, i: int) -> str:
        return os.path.join(self.iu_dir(), f"weights_{i:03d}.npz")

    def iu_record(self) -> dict:
        """``{"done", "seconds"}``, read from the chain's checkpoint, where it is saved with the state it describes
        (``chain.json`` beside it is a readable copy, and the record of caches written before)."""
        state = os.path.join(self.iu_dir(), "state")
        for path in (os.path.join(state, "chain.json"), os.path.join(state + ".old", "chain.json")):
            if os.path.exists(os.path.join(os.path.dirname(path), "ckpt.index")) and os.path.exists(path):
                with open(path) as f:
                    return json.load(f)
        path = os.path.join(self.iu_dir(), "chain.json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        return {"done": 0, "seconds": {}}

    def iu_weights(self, i: int) -> dict[str, np.ndarray]:
        """Weights of the IU model after training on period ``i`` (the chain must have reached ``i``)."""
        return load_weights_npz(self._existing_iu_path(i))

    def iu_rows(self, i: int) -> NpzRows:
        """The IU model of period ``i`` read from its file by row ranges (nothing is loaded until asked for)."""
        return NpzRows(self._existing_iu_path(i))

    def _existing_iu_path(self, i: int) -> str:
        path = self.iu_weights_path(i)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"no IU model of period {i} in {self.iu_dir()}: run the IU chain first (Context.run_iu_chain)"
            )
        return path

    def iu_seconds(self, i: int) -> float | None:
        return self.iu_record()["seconds"].get(str(i))

    def run_iu_chain(self, until: int) -> None:
        """IU (docs/method.md §1.1): fine-tune the previous IU model on period i for one shuffled epoch, carrying
        the Adam state, for i = update_start..until. Resumable: each period's weights, the model+optimizer state
        and the compute seconds are kept in the cache; one process extends a chain at a time."""
        with exclusive(self.cache_dir, sweep=True):
            self._run_iu_chain(until)

    def _run_iu_chain(self, until: int) -> None:
        proto = self.protocol
        record = self.iu_record()
        state = os.path.join(self.iu_dir(), "state")
        model, optimizer = self.pretrained()
        # what the weights files are: ``asmg export --weights .../weights_XXX.npz`` rebuilds the ranker from it
        write_json(os.path.join(self.iu_dir(), "model.json"), describe(model))
        if record["done"] >= proto.update_start:
            read_checkpoint(state, model=model, optimizer=optimizer)
        first = max(record["done"] + 1, proto.update_start)
        for i in range(first, until + 1):
            start = time.perf_counter()
            self.train_epoch(model, self.period(i), seed=period_seed(self.config.seed, i))
            record["seconds"][str(i)] = time.perf_counter() - start
            save_weights_npz(self.iu_weights_path(i), get_weights(model))
            record["done"] = i
            # the record goes into the checkpoint it describes: a kill between two separate writes left the state
            # of period i beside a record of i-1, and the rerun trained period i twice
            write_checkpoint(state, files={"chain.json": json.dumps(record)}, model=model, optimizer=optimizer)
            write_json(os.path.join(self.iu_dir(), "chain.json"), record)
            if self.progress:
                self.progress(i)
