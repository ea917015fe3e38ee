"""AsmgGenerator executor: thin glue that rolls any update method one period forward with the library's step.

Run for span t (the same step ``asmg bench`` takes, ``asmg_tf.updaters.step``; test-then-train, docs/method.md §3.6:
span t was scored by the TestThenTrain component before the Trainer and this component ran):

1. restore the method from the history of span t-1 (enlarging its per-row state if the tables grew), or start it;
2. ``step(t)``: ``observe(t-1)`` (ASMG meta-trains with span t as its newest target), then ``serve(t)``;
3. write the served model as a standard Model artifact, and the history for span t+1: the method's state (saved
   between serve and observe, as the bench saves it) and the IU models and periods it declared it will read
   (``UpdateMethod.carried_inputs``).

Every method of ``asmg bench`` runs here by the same name, except SML-MF (``needs_period_set``: its own matrix
factorisation model is pretrained on every pretraining period and cannot grow with the base model's tables).
The method's model may be pushed (``deploy`` = 1) once the method has run ``warmup`` rounds (default: the paper's protocol, from iteration ``test_start`` on); the BlessingGate decides.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from asmg_tf.data.periods import Protocol
from asmg_tf.models.presets import TrainConfig
from asmg_tf.models.registry import id_tables_of
from asmg_tf.models.weights import get_weights
from asmg_tf.training.state import read_checkpoint
from asmg_tf.updaters import METHODS, make_method
from asmg_tf.updaters.step import MethodState, open_method, step
from pipeline import fs, model_io
from pipeline import state as S
from pipeline.artifacts import SPAN
from pipeline.capacity import GrownRows, fresh_weights, grow_generator_state, grow_weights, transfer_trainable
from pipeline.examples import read_period
from pipeline.generator_context import HistoryContext
from pipeline.history import GENERATOR_DIR, History, write_history
from pipeline.trainer_module import pretrain_span_files
from pipeline.user_module import import_user_module


def pipeline_methods() -> list[str]:
    """The update methods a pipeline run can take (``asmg bench`` names)."""
    return sorted(name for name, factory in METHODS.items() if not _needs_period_set(factory))


def _needs_period_set(factory) -> bool:
    cls = getattr(factory, "func", factory)
    return bool(getattr(cls, "needs_period_set", False))


def check_method(name: str) -> None:
    """A clear error for a name the pipeline cannot run (unknown, or needing every period at once)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; the pipeline runs {', '.join(pipeline_methods())}")
    if _needs_period_set(METHODS[name]):
        raise ValueError(
            f"{name} reads every period at once and keeps a model of its own that cannot grow with the tables, which "
            f"one pipeline run does not hold; compare it with `asmg bench`. The pipeline runs {', '.join(pipeline_methods())}"
        )


def default_warmup(protocol: Protocol, first_iteration: int) -> int:
    """τ of the paper's protocol: rounds before iteration ``test_start`` (11 for ASMG with k = 3)."""
    return max(0, protocol.test_start - first_iteration)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        start = time.perf_counter()
        import_user_module(exec_properties)  # registers the user's ranker, if any
        iu = artifact_utils.get_single_instance(input_dict["model"])
        iu_info = model_io.read_info(iu.uri)
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        previous = input_dict.get("history") or []
        name = exec_properties["method"]
        check_method(name)
        options = json.loads(exec_properties["method_options"] or "{}")
        protocol = Protocol(**json.loads(exec_properties["protocol"]))
        config = TrainConfig(**json.loads(exec_properties["train_config"]))
        kind = exec_properties.get("data_kind") or "sobazaar"
        meta = S.read_period_meta(examples.uri)
        span, capacity = meta["span"], meta["capacity"]
        history = History.load(previous[0].uri) if previous else None
        _check_order(history, span, protocol)
        ctx = _context(iu.uri, examples.uri, meta, history, protocol, config, kind)
        method = make_method(name, ctx, **options)
        state = MethodState(os.path.join(history.uri, GENERATOR_DIR)) if history else None
        if state is not None and state.exists():
            old_ctx = ctx.at_capacity(history.capacity)
            grow = None if history.capacity == capacity else _growing_reader(name, options, old_ctx, config, span)
            open_method(method, state, read=grow)
        else:  # before its first serve a method is its seeded initial state: nothing was kept
            method.start()
        first = method.first_iteration()
        rounds = int(history.info["meta_rounds"]) if history else 0
        generated, observe_seconds = None, 0.0
        if span >= first:
            result = step(method, span)
            generated, observe_seconds = result.model, result.observe_seconds
            rounds += int(span - 1 >= first)
        warmup = int(exec_properties["warmup_periods"])
        warmup = default_warmup(protocol, first) if warmup < 0 else warmup
        deploy = generated is not None and rounds >= warmup

        out = artifact_utils.get_single_instance(output_dict["generated_model"])
        info = {"role": "generated" if generated is not None else "iu", "span": span, "deploy": deploy,
                "meta_rounds": rounds, "warmup": warmup, "method": name}  # fmt: skip
        served = method.extra_state().get("served", {}) if generated is not None else {}
        if str(span) in served:  # asmg_plus: which candidate it serves
            info["candidate"] = served[str(span)]
        period_dir = os.path.join(examples.uri, S.PERIOD_DIR)
        if generated is not None:
            model_io.write_model(
                out.uri, generated, info=info, period_meta=meta, period_dir=period_dir, iu_state_from=iu.uri
            )
        else:  # nothing to serve yet: the artifact holds the IU model (never deployed)
            fs.copy_tree(iu.uri, out.uri)
            S.write_json(os.path.join(out.uri, model_io.ASMG_DIR, model_io.INFO), {**iu_info, **info})
        out.set_int_custom_property(SPAN, span)
        out.set_int_custom_property("generated", int(generated is not None))
        out.set_int_custom_property("deploy", int(deploy))
        out.set_int_custom_property("meta_rounds", rounds)

        hist_out = artifact_utils.get_single_instance(output_dict["updated_history"])
        if generated is not None:  # saved between serve(t) and observe(t), as the bench saves it
            MethodState(os.path.join(hist_out.uri, GENERATOR_DIR)).save(method, span)
        keep_iu, keep_data = method.carried_inputs(span)
        keep_iu = sorted(set(keep_iu) | {span})  # the next TestThenTrain scores this span's IU model
        write_history(
            hist_out.uri,
            {
                "span": span,
                "method": name,
                "options": options,
                "capacity": capacity,
                "model": model_io.description(iu_info)["model"],
                "model_config": iu_info["config"],
                "train_config": json.loads(exec_properties["train_config"]),
                "first_iteration": first,
                "meta_rounds": rounds,
                "warmup": warmup,
                "seconds": {"observe": observe_seconds, "total": time.perf_counter() - start},
            },
            iu={t: ctx.iu_weights(t) for t in keep_iu},
            data={t: ctx.period(t) for t in keep_data},
            generated=get_weights(generated) if generated is not None else None,
        )
        hist_out.set_int_custom_property(SPAN, span)
        hist_out.set_int_custom_property("meta_rounds", rounds)


def _context(iu_uri, examples_uri, meta, history, protocol, config, kind) -> HistoryContext:
    """This run's periods and IU models (and, in the pretraining run, the pretraining spans and checkpoint), plus
    the ones the history kept; models from before a table grew get the rows the current IU model has."""
    span, capacity = meta["span"], meta["capacity"]
    info = model_io.read_info(iu_uri)
    iu_weights = model_io.load_weights(iu_uri)
    iu_sources = {span: lambda: iu_weights}
    current_rows = lambda: fs.npz_rows(model_io.weights_path(iu_uri))  # noqa: E731
    iu_rows = {span: current_rows}
    periods = {span: lambda: read_period(S.split_files(examples_uri, "period"))}
    if span == protocol.update_start:  # the pretraining run: BU's first windows reach into these spans
        periods.update({t: (lambda f=f: read_period(f)) for t, f in pretrain_span_files(examples_uri).items()})
    if history:
        tables = id_tables_of(model_io.description(info))
        grown = lambda load: lambda: grow_weights(load(), iu_weights, tables)  # noqa: E731  (rows a model never had)
        iu_sources.update({t: grown(lambda t=t: history.iu_weights(t)) for t in history.info["iu_spans"]})
        iu_rows.update(
            {t: (lambda t=t: GrownRows(history.iu_rows(t), current_rows(), tables)) for t in history.info["iu_spans"]}
        )
        periods.update({t: (lambda t=t: history.period(t)) for t in history.info["data_spans"]})
    return HistoryContext(
        protocol,
        config,
        capacity,
        S.category_table(examples_uri, meta),
        iu_sources,
        periods,
        kind=kind,
        iu_seconds={span: info.get("iu_seconds")} if info.get("iu_seconds") is not None else {},
        pretrained_dir=model_io.pretrained_dir(iu_uri),
        iu_rows=iu_rows,
    )


def _check_order(history: History | None, span: int, protocol: Protocol) -> None:
    if history is None and span != protocol.update_start:
        raise ValueError(
            f"span {span}: no generator history of span {span - 1}; only span {protocol.update_start} starts without "
            "one. Run the spans in order (asmg pipeline backfill)."
        )
    if history is not None and history.span != span - 1:
        raise ValueError(f"span {span} needs the generator history of span {span - 1}, got span {history.span}'s")


def _growing_reader(name: str, options: dict, old_ctx, config: TrainConfig, span: int):
    """A ``MethodState.load`` reader for a method whose tables grew since its state was saved: the checkpoint is
    read into the method built at the old capacity, then copied into the new one, per kind of state:
    ``GeneratorState`` (per-row hidden states get zero rows) and (model, optimizer) pairs (new rows as the Trainer
    makes them, zero Adam slots); state whose shapes do not depend on the tables is copied as it is."""

    def read(directory: str, method) -> None:
        old = make_method(name, old_ctx, **options)
        old.restore(MethodState(directory).read()["extra_state"])
        read_checkpoint(directory, **old.trackables())
        new_items, old_items = method.trackables(), old.trackables()
        fresh = fresh_weights(method.ctx.capacity, config, span)
        pairs = [("model", "optimizer")] if {"model", "optimizer"} <= set(new_items) else []
        for model_key, opt_key in pairs:
            transfer_trainable(
                old_items[model_key], old_items[opt_key], new_items[model_key], new_items[opt_key], fresh
            )
        done = {k for pair in pairs for k in pair}
        for key, new_state in new_items.items():
            if key in done:
                continue
            if hasattr(new_state, "generator"):  # a GeneratorState
                grow_generator_state(old_items[key], new_state)
            else:
                _copy_same_shapes(key, old_items[key], new_state)

    return read


def _variables(obj) -> list:
    """An optimizer's ``variables()`` (a method) or a module's ``variables`` (a property)."""
    return obj.variables() if callable(getattr(obj, "variables", None)) else obj.variables


def _copy_same_shapes(key: str, old, new) -> None:
    """Copy ``old``'s variables into ``new``'s; a variable with more rows now keeps its own initial values in the
    rows ``old`` never had (per-row state of ids that arrived since)."""
    old_vars, new_vars = _variables(old), _variables(new)
    if len(old_vars) != len(new_vars):
        raise ValueError(
            f"{key}: the state has {len(old_vars)} variables before the tables grew, {len(new_vars)} after"
        )
    for o, n in zip(old_vars, new_vars):
        value = np.asarray(o.numpy())
        if value.shape == tuple(n.shape):
            n.assign(value)
        elif value.shape[1:] == tuple(n.shape)[1:] and value.shape[0] < n.shape[0]:
            n[: value.shape[0]].assign(value)
        else:
            raise ValueError(f"{key}: cannot carry {o.name} {value.shape} into {tuple(n.shape)}")
