"""TestThenTrain executor: score what served period t (and the IU / generated models of t-1) on span t.

Runs before anything trains on span t (the Trainer waits for it): AUC and LogLoss (``asmg_tf.training.loop.evaluate``,
the bench's metric) of

* ``served``: the model pushed by the previous run (serving period t),
* ``iu``: the previous run's IU model (the baseline),
* ``generated``: the previous run's generated model, when there was one (deployed or still warming up),

written to ``metrics.json`` and as custom properties of the artifact (so they are in MLMD). Models from before a
table grew get the new rows the Trainer gives them (``pipeline.model_io.weights_at_capacity``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from asmg_tf.models.presets import TrainConfig
from asmg_tf.training.loop import evaluate
from pipeline import model_io
from pipeline import state as S
from pipeline.artifacts import SPAN
from pipeline.examples import read_period
from pipeline.history import GENERATED, SERVED, History


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        start = time.perf_counter()
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        previous = input_dict.get("history") or []
        out = artifact_utils.get_single_instance(output_dict["evaluation"])
        meta = S.read_period_meta(examples.uri)
        span, capacity = meta["span"], meta["capacity"]
        result: dict = {"span": span, "iteration": span - 1, "examples": meta["counts"]["examples"]}
        if previous:
            history = History.load(previous[0].uri)
            if history.span != span - 1:
                raise ValueError(
                    f"span {span} must score the models of span {span - 1}, the history is of {history.span}"
                )
            table = S.category_table(examples.uri, meta)
            data = read_period(S.split_files(examples.uri, "period"))
            config = TrainConfig(**history.info["train_config"])
            model_config = model_io.resized_config(history.info["model_config"], capacity)
            candidates = {
                "served": history.weights(SERVED),
                "iu": history.iu_weights(span - 1),
                "generated": history.weights(GENERATED),
            }
            result["served_source"] = history.info["served"]["source"]
            for name, weights in candidates.items():
                if weights is None:
                    result[name] = None
                    continue
                grown = model_io.weights_at_capacity(weights, capacity, config, span)
                result[name] = evaluate(model_io.model_with_weights(model_config, grown), data, table)
        else:
            result["served_source"] = None
            result.update(served=None, iu=None, generated=None)
            result["note"] = "no model served before this span (the first update run pretrains)"
        result["seconds"] = time.perf_counter() - start
        S.write_json(os.path.join(out.uri, S.METRICS_FILE), result)
        out.set_int_custom_property(SPAN, span)
        out.set_int_custom_property("iteration", span - 1)
        out.set_string_custom_property("served_source", result["served_source"] or "none")
        for name in ("served", "iu", "generated"):
            if result.get(name):
                for metric, value in result[name].items():
                    out.set_float_custom_property(f"{name}_{metric}", float(value))
