"""AsmgGenerator executor: roll the generator one period forward with the library's ASMG method.

Run for span t, in the paper's test-then-train order (docs/method.md §3.6; the same calls ``run_method`` makes):

1. restore the generator (weights, Adam state, carried hidden states) from the history of span t-1;
2. ``observe(t-1)``: one epoch of meta-training whose newest target is span t; span t was scored first by the
   TestThenTrain component, which runs before the Trainer and this component;
3. ``serve(t)``: the model generated from the IU models of spans t-k+1..t, written as a standard Model artifact;
4. write the history for span t+1: the last k IU models, the target periods still needed, the checkpoint.

The generated model is deployed (``deploy`` = 1, the pusher pushes it instead of the IU model) once the generator
has meta-trained ``warmup`` periods; the default is the paper's: from iteration ``test_start`` on.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from asmg_tf.data.periods import Protocol
from asmg_tf.models.presets import TrainConfig
from asmg_tf.models.weights import get_weights
from asmg_tf.training.state import read_checkpoint, write_checkpoint
from asmg_tf.updaters import make_method
from asmg_tf.updaters.asmg import ASMG_METHODS as PAPER_METHODS
from asmg_tf.updaters.asmg_plus import ASMG_PLUS_METHODS
from pipeline import model_io
from pipeline import state as S
from pipeline.artifacts import SPAN
from pipeline.capacity import grow_generator_state, grow_weights
from pipeline.examples import read_period
from pipeline.generator_context import HistoryContext
from pipeline.history import EXTRA_STATE, GENERATOR_DIR, History, write_history

#: the methods this component runs: the paper's ASMG variants and asmg_plus
ASMG_METHODS = {**PAPER_METHODS, **ASMG_PLUS_METHODS}


def default_warmup(protocol: Protocol, first_iteration: int) -> int:
    """τ of the paper's protocol: meta-training rounds before iteration ``test_start`` (11 with k = 3)."""
    return max(0, protocol.test_start - first_iteration)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        start = time.perf_counter()
        iu = artifact_utils.get_single_instance(input_dict["model"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        previous = input_dict.get("history") or []
        name = exec_properties["method"]
        if name not in ASMG_METHODS:
            raise ValueError(f"the generator component runs an ASMG method ({sorted(ASMG_METHODS)}), got {name!r}")
        options = json.loads(exec_properties["method_options"] or "{}")
        protocol = Protocol(**json.loads(exec_properties["protocol"]))
        config = TrainConfig(**json.loads(exec_properties["train_config"]))
        meta = S.read_period_meta(examples.uri)
        span, capacity = meta["span"], meta["capacity"]
        period_dir = os.path.join(examples.uri, S.PERIOD_DIR)
        table = S.category_table(examples.uri, meta)
        history = History.load(previous[0].uri) if previous else None
        _check_order(history, span, protocol)
        iu_weights = model_io.load_weights(iu.uri)

        def grown(load):
            return lambda: grow_weights(load(), iu_weights)  # rows a model never had: the current IU model's

        iu_sources = {span: lambda: iu_weights}
        periods = {span: lambda: read_period(S.split_files(examples.uri, "period"))}
        if history:
            iu_sources.update({t: grown(lambda t=t: history.iu_weights(t)) for t in history.info["iu_spans"]})
            periods.update({t: (lambda t=t: history.period(t)) for t in history.info["data_spans"]})
        ctx = HistoryContext(protocol, config, capacity, table, iu_sources, periods)
        method = make_method(name, ctx, **options)
        rounds = int(history.info["meta_rounds"]) if history else 0
        if rounds:
            _restore(method, history, name, options, protocol, config, table, capacity)
        else:  # never meta-trained: a fresh start is the very state it would restore (seeded, untouched)
            method.start()
        first = method.first_iteration()
        observe_seconds = 0.0
        if history and span - 1 >= first:
            t0 = time.perf_counter()
            method.observe(span - 1)
            observe_seconds = time.perf_counter() - t0
            rounds += 1
        generated = None
        if span >= first:
            generated = method.serve(span)
        warmup = int(exec_properties["warmup_periods"])
        warmup = default_warmup(protocol, first) if warmup < 0 else warmup
        deploy = generated is not None and rounds >= warmup

        out = artifact_utils.get_single_instance(output_dict["generated_model"])
        info = {"role": "generated" if generated is not None else "iu", "span": span, "deploy": deploy,
                "meta_rounds": rounds, "warmup": warmup, "method": name}  # fmt: skip
        if generated is not None and hasattr(method, "served"):  # asmg_plus: which candidate it serves
            info["candidate"] = method.served[str(span)]
        if generated is not None:
            model_io.write_model(
                out.uri, generated, info=info, period_meta=meta, period_dir=period_dir, iu_state_from=iu.uri
            )
        else:  # nothing to generate yet: the artifact holds the IU model (never deployed)
            for entry in os.listdir(iu.uri):
                shutil.copytree(os.path.join(iu.uri, entry), os.path.join(out.uri, entry), dirs_exist_ok=True)
            S.write_json(
                os.path.join(out.uri, model_io.ASMG_DIR, model_io.INFO), {**model_io.read_info(iu.uri), **info}
            )
        out.set_int_custom_property(SPAN, span)
        out.set_int_custom_property("generated", int(generated is not None))
        out.set_int_custom_property("deploy", int(deploy))
        out.set_int_custom_property("meta_rounds", rounds)

        hist_out = artifact_utils.get_single_instance(output_dict["updated_history"])
        gen_weights = get_weights(generated) if generated is not None else None
        keep_iu = [t for t in method.window_periods(max(span, first)) if t <= span]
        keep_data = [t for t in method.targets(max(span, first))[0] if t <= span]
        if rounds:  # before its first meta-training the generator is its seeded initial state: nothing to keep
            write_checkpoint(os.path.join(hist_out.uri, GENERATOR_DIR), **method.trackables())
            S.write_json(os.path.join(hist_out.uri, GENERATOR_DIR, EXTRA_STATE), method.extra_state())
        write_history(
            hist_out.uri,
            {
                "span": span,
                "method": name,
                "options": options,
                "capacity": capacity,
                "model_config": model_io.read_info(iu.uri)["config"],
                "train_config": json.loads(exec_properties["train_config"]),
                "first_iteration": first,
                "meta_rounds": rounds,
                "warmup": warmup,
                "seconds": {"observe": observe_seconds, "total": time.perf_counter() - start},
            },
            iu={t: ctx.iu_weights(t) for t in keep_iu},
            data={t: ctx.period(t) for t in keep_data},
            generated=gen_weights,
        )
        hist_out.set_int_custom_property(SPAN, span)
        hist_out.set_int_custom_property("meta_rounds", rounds)


def _check_order(history: History | None, span: int, protocol: Protocol) -> None:
    if history is None and span != protocol.update_start:
        raise ValueError(
            f"span {span}: no generator history of span {span - 1}; only span {protocol.update_start} starts without "
            "one. Run the spans in order (asmg pipeline backfill)."
        )
    if history is not None and history.span != span - 1:
        raise ValueError(f"span {span} needs the generator history of span {span - 1}, got span {history.span}'s")


def _restore(method, history: History, name, options, protocol, config, table, capacity) -> None:
    """``run_method``'s resume path (``restore`` then the checkpoint), enlarging per-row state if tables grew."""
    extra = history.extra_state()
    if history.capacity == capacity:
        method.restore(extra)
        read_checkpoint(history.generator_dir, **method.trackables())
        return
    old_ctx = HistoryContext(protocol, config, history.capacity, None, {}, {})
    old = make_method(name, old_ctx, **options)
    old.restore(extra)
    read_checkpoint(history.generator_dir, **old.trackables())
    method.restore(extra)
    for key, new_state in method.trackables().items():
        grow_generator_state(old.trackables()[key], new_state)
