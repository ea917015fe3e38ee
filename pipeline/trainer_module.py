"""Trainer module: ``run_fn`` for the stock TFX Trainer (``Trainer(run_fn="pipeline.trainer_module.run_fn")``).

Run for span t (docs/method.md §1.3, §1.1; the same library calls ``asmg bench`` makes):

* t = update_start (no previous model): pretrain on the pretraining spans for ``pretrain_epochs`` epochs, keeping
  the epoch (weights and Adam state) with the best AUC on span t (``asmg_tf.training.pretrain``), saved as
  ``asmg/pretrained`` (where other update methods start); then IU on span t;
* t > update_start: restore the previous IU model *and* its Adam state from ``fn_args.base_model`` (the IU state
  every pipeline Model carries, never the generated weights), enlarge the tables if the vocabulary outgrew them,
  then IU: one shuffled epoch on span t (seed ``seed * 1000 + t``, as ``Context.run_iu_chain``).

Exports the SavedModel (``serving.export``) and the checkpoint the next run warm-starts from (``pipeline.model_io``).
``custom_config``: ``{"train": TrainConfig fields, "protocol": Protocol fields}``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time

import asmg_tf  # noqa: F401  (legacy Keras)
from asmg_tf.data.periods import HIST_LEN, PeriodData, PeriodSet, Protocol
from asmg_tf.models.presets import TrainConfig
from asmg_tf.training.loop import period_seed, train_epoch
from asmg_tf.training.pretrain import new_trainable, pretrain
from asmg_tf.training.state import write_checkpoint
from pipeline import fs, model_io
from pipeline import state as S
from pipeline.examples import read_period

log = logging.getLogger(__name__)
PRETRAIN_FILE = re.compile(r"^span-(\d+)-")


def examples_uri(fn_args) -> str:
    """The examples artifact folder: ``fn_args.train_files`` are ``<uri>/Split-period/*`` patterns."""
    return os.path.dirname(os.path.dirname(fn_args.train_files[0]))


def iu_seed(config: TrainConfig, span: int) -> int:
    """The shuffle seed of the IU epoch on period ``span`` (the library's rule, as ``Context.run_iu_chain``)."""
    return period_seed(config.seed, span)


def empty_period() -> PeriodData:
    import numpy as np

    z = np.zeros(0, np.int32)
    return PeriodData(z, z, np.zeros((0, HIST_LEN), np.int32), z, np.zeros(0, np.float32), np.zeros(0, np.int64))


def pretrain_span_files(uri: str) -> dict[int, list[str]]:
    """Span -> its example files in the ``pretrain`` split of the pretraining run's examples."""
    files: dict[int, list[str]] = {}
    for f in S.split_files(uri, "pretrain"):
        m = PRETRAIN_FILE.match(os.path.basename(f))
        if m:
            files.setdefault(int(m.group(1)), []).append(f)
    return files


def pretraining_periods(uri: str, meta: dict, current: PeriodData, table, protocol: Protocol) -> PeriodSet:
    """The pretraining spans (from the ``pretrain`` split) and span ``update_start`` as a ``PeriodSet``: the periods
    ``asmg_tf.training.pretrain`` reads; later periods are empty placeholders."""
    files = pretrain_span_files(uri)
    missing = [t for t in protocol.pretrain_periods if t not in files]
    if missing:
        raise ValueError(f"span {meta['span']} pretrains, but its examples hold no pretraining spans {missing}")
    periods = []
    for t in range(1, protocol.num_periods + 1):
        if t in files:
            periods.append(read_period(files[t]))
        elif t == protocol.update_start:
            periods.append(current)
        else:
            periods.append(empty_period())
    cap = meta["capacity"]
    return PeriodSet(
        name="pipeline",
        kind="pipeline",
        periods=periods,
        num_users=cap["users"],
        num_items=cap["items"],
        num_categories=cap["categories"],
        item_categories=table,
        protocol=protocol,
    )


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (see the module docstring)."""
    custom = fn_args.custom_config or {}
    config = TrainConfig(**custom["train"])
    protocol = Protocol(**custom["protocol"])
    uri = examples_uri(fn_args)
    period_dir = os.path.join(uri, S.PERIOD_DIR)
    meta = S.read_period_meta(uri)
    span, capacity = meta["span"], meta["capacity"]
    table = S.category_table(uri, meta)
    data = read_period(S.split_files(uri, "period"))
    info: dict = {"role": "iu", "span": span, "train_config": custom["train"]}
    start = time.perf_counter()
    if fn_args.base_model is None:
        if span != protocol.update_start:
            raise ValueError(
                f"span {span}: no IU model of span {span - 1} to warm-start from; only span {protocol.update_start} "
                "pretrains. Run the spans in order (asmg pipeline backfill)."
            )
        periods = pretraining_periods(uri, meta, data, table, protocol)
        model, optimizer = new_trainable(periods, config)
        result = pretrain(
            model,
            optimizer,
            periods,
            config,
            on_epoch=lambda e, m: log.info("pretrain epoch %d: AUC %.4f on span %d", e, m["auc"], span),
        )
        info["pretrain"] = {"epochs": result.epochs, "best_epoch": result.best_epoch}
        info["pretrain_seconds"] = time.perf_counter() - start
        # the pretrained state, before IU touches it: update methods other than IU start from it (BU, IncCTR, ...)
        out = os.path.dirname(fn_args.serving_model_dir.rstrip("/"))
        write_checkpoint(model_io.pretrained_dir(out), model=model, optimizer=optimizer)
    else:
        previous = os.path.dirname(fn_args.base_model.rstrip("/"))
        prev_span = model_io.read_info(previous)["span"]
        if prev_span != span - 1:
            raise ValueError(f"span {span} must warm-start from the IU model of span {span - 1}, got span {prev_span}")
        model, optimizer = model_io.restore_iu(previous, config, capacity, span)
    iu_start = time.perf_counter()
    loss = train_epoch(model, data, table, config.batch_size, shuffle=True, seed=iu_seed(config, span))
    info.update(iu_seconds=time.perf_counter() - iu_start, iu_last_batch_loss=loss, examples=len(data))
    out = os.path.dirname(fn_args.serving_model_dir.rstrip("/"))
    model_io.write_model(out, model, info=info, period_meta=meta, period_dir=period_dir, optimizer=optimizer)
    fs.makedirs(fn_args.model_run_dir)
    S.write_json(os.path.join(fn_args.model_run_dir, "train_info.json"), json.loads(json.dumps(info, default=float)))
