"""Pretraining (docs/method.md §1.3): periods 1..10 for 10 epochs, keep the epoch with the best AUC on period 11.

The kept state is the model *and* its Adam state at that epoch: every later stage restores both.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

import tensorflow as tf

from asmg_tf.data.periods import PeriodSet
from asmg_tf.files import write_json
from asmg_tf.models.contract import check_ranker
from asmg_tf.models.presets import TrainConfig
from asmg_tf.models.registry import build_ranker
from asmg_tf.training.loop import compile_model, ensure_built, evaluate, make_optimizer, train_epoch
from asmg_tf.training.state import create_slots, read_checkpoint, restore_snapshot, snapshot, write_checkpoint


def build_model(periods: PeriodSet, config: TrainConfig, *, seed: int | None = None) -> tf.keras.Model:
    """A fresh, built base model (``config.model`` with ``config.model_options``) sized for ``periods``, seeded."""
    tf.keras.utils.set_random_seed(config.seed if seed is None else seed)
    model = build_ranker(
        config.model,
        periods.num_users,
        periods.num_items,
        periods.num_categories,
        embedding_dim=config.embedding_dim,
        **config.model_options,
    )
    ensure_built(model)
    check_ranker(model)  # a model that breaks the contract fails here, naming what is missing, not deep in a run
    return model


def new_trainable(periods: PeriodSet, config: TrainConfig, *, learning_rate: float | None = None):
    """(model, optimizer), compiled together."""
    model = build_model(periods, config)
    optimizer = make_optimizer(learning_rate or config.learning_rate)
    compile_model(model, optimizer)
    return model, optimizer


@dataclasses.dataclass
class PretrainResult:
    epochs: list[dict]
    best_epoch: int  # 1-based


def pretrain(
    model: tf.keras.Model,
    optimizer: tf.keras.optimizers.Optimizer,
    periods: PeriodSet,
    config: TrainConfig,
    *,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> PretrainResult:
    """Train ``model`` in place on the pretraining periods; leave it (and ``optimizer``) at the best epoch."""
    proto = periods.protocol
    data = periods.periods_range(1, proto.pretrain_end)
    val = periods.period(proto.update_start)
    best, best_auc, history = None, -float("inf"), []
    for epoch in range(1, config.pretrain_epochs + 1):
        loss = train_epoch(
            model, data, periods.item_categories, config.batch_size, shuffle=True, seed=config.seed + epoch
        )
        metrics = {"epoch": epoch, "train_loss": loss, **evaluate(model, val, periods.item_categories)}
        history.append(metrics)
        if on_epoch:
            on_epoch(epoch, metrics)
        if metrics["auc"] > best_auc or best is None:
            best_auc, best = metrics["auc"], (epoch, snapshot(model, optimizer))
    restore_snapshot(model, optimizer, best[1])
    return PretrainResult(history, best[0])


def pretrain_cached(
    folder: str,
    model: tf.keras.Model,
    optimizer: tf.keras.optimizers.Optimizer,
    periods: PeriodSet,
    config: TrainConfig,
    *,
    what: str = "pretraining",
    log: Callable[[str], None] | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> None:
    """``pretrain`` once per ``folder``: restore ``model`` and ``optimizer`` (weights and Adam slots) from the
    checkpoint there when a finished pretraining left its ``info.json``; otherwise pretrain (``log`` says so, naming
    it ``what``), write the checkpoint, then ``info.json`` (last, so an interrupted run pretrains again)."""
    info_path = os.path.join(folder, "info.json")
    if os.path.exists(info_path):
        create_slots(model, optimizer)
        read_checkpoint(os.path.join(folder, "state"), model=model, optimizer=optimizer)
        return
    log = log or (lambda message: None)
    log(f"{what} for {config.pretrain_epochs} epochs")
    start = time.perf_counter()
    result = pretrain(model, optimizer, periods, config, on_epoch=on_epoch)
    write_checkpoint(os.path.join(folder, "state"), model=model, optimizer=optimizer)
    seconds = time.perf_counter() - start
    write_json(info_path, {"epochs": result.epochs, "best_epoch": result.best_epoch, "seconds": seconds})
    log(f"{what}: kept epoch {result.best_epoch} ({seconds:.1f} s)")
    if all(e["auc"] == 0.5 for e in result.epochs):  # constant logits: ReLUs dead or a model that ignores its input
        log(f"warning: {config.model} predicted one constant score in every epoch (AUC 0.5): it learns nothing here")
