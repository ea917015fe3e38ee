"""What every update method in one bench run shares: the periods, the settings, the pretrained model and the
IU chain (ASMG reads IU checkpoints, it never changes them)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from asmg_tf.data.periods import PeriodSet
from asmg_tf.files import write_json
from asmg_tf.models.presets import TrainConfig
from asmg_tf.models.weights import get_weights, load_weights_npz, save_weights_npz, set_weights
from asmg_tf.training.loop import evaluate, period_seed, train_epoch
from asmg_tf.training.pretrain import new_trainable, pretrain_cached
from asmg_tf.training.state import read_checkpoint, write_checkpoint

Log = Callable[[str], None]


class ModelAccess:
    """``evaluate`` and ``iu_model`` for any context that has ``new_trainable()``, ``iu_weights(i)``, ``period(t)``
    and ``item_categories`` (the bench's ``Context`` and the pipeline's ``HistoryContext``)."""

    def evaluate(self, model: tf.keras.Model, t: int) -> dict[str, float]:
        """AUC and LogLoss of ``model`` on period ``t``."""
        return evaluate(model, self.period(t), self.item_categories)

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

    def period(self, t: int):
        return self.periods.period(t)

    def train_epoch(
        self, model: tf.keras.Model, data, *, shuffle: bool = True, seed: int | None = None, batch_size=None
    ):
        return train_epoch(
            model, data, self.item_categories, batch_size or self.config.batch_size, shuffle=shuffle, seed=seed
        )

    def new_trainable(self, learning_rate: float | None = None):
        """A fresh (model, optimizer) pair of the base architecture."""
        return new_trainable(self.periods, self.config, learning_rate=learning_rate)

    # -- pretraining ---------------------------------------------------------------------------------------------
    def pretrained(self, learning_rate: float | None = None):
        """(model, optimizer) at the pretrained state, weights *and* Adam slots; computed once, then cached.

        Pretraining always runs at the configured rate; ``learning_rate`` is the rate the returned optimizer
        continues with (set after the restore: the checkpoint carries the optimizer's own rate)."""
        model, optimizer = self.new_trainable()
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
        if learning_rate is not None:
            optimizer.learning_rate = learning_rate
        return model, optimizer

    def pretrain_info(self) -> dict:
        with open(os.path.join(self.cache_dir, "pretrain", "info.json")) as f:
            return json.load(f)

    # -- the IU chain ---------------------------------------------------------------------------------------------
    def iu_dir(self) -> str:
        return os.path.join(self.cache_dir, "iu")

    def iu_weights_path(self, i: int) -> str:
        return os.path.join(self.iu_dir(), f"weights_{i:03d}.npz")

    def iu_record(self) -> dict:
        path = os.path.join(self.iu_dir(), "chain.json")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        return {"done": 0, "seconds": {}}

    def iu_weights(self, i: int) -> dict[str, np.ndarray]:
        """Weights of the IU model after training on period ``i`` (runs the chain up to ``i`` if needed)."""
        if not os.path.exists(self.iu_weights_path(i)):
            self.run_iu_chain(i)
        return load_weights_npz(self.iu_weights_path(i))

    def run_iu_chain(self, until: int) -> None:
        """IU (docs/method.md §1.1): fine-tune the previous IU model on period i for one shuffled epoch, carrying
        the Adam state, for i = update_start..until. Resumable: each period's weights, the model+optimizer state
        and the compute seconds are kept in the cache."""
        proto = self.protocol
        record = self.iu_record()
        state = os.path.join(self.iu_dir(), "state")
        model, optimizer = self.pretrained()
        if record["done"] >= proto.update_start:
            read_checkpoint(state, model=model, optimizer=optimizer)
        first = max(record["done"] + 1, proto.update_start)
        for i in range(first, until + 1):
            start = time.perf_counter()
            self.train_epoch(model, self.period(i), seed=period_seed(self.config.seed, i))
            record["seconds"][str(i)] = time.perf_counter() - start
            save_weights_npz(self.iu_weights_path(i), get_weights(model))
            write_checkpoint(state, model=model, optimizer=optimizer)
            record["done"] = i
            write_json(os.path.join(self.iu_dir(), "chain.json"), record)
            if self.progress:
                self.progress(i)
