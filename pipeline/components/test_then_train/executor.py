"""TestThenTrain executor: score what served period t (and the IU / generated models of t-1) on span t.

Runs before anything trains on span t (the Trainer waits for it): AUC and LogLoss (``asmg_tf.training.loop``'s
metrics, the bench's) of

* ``served``: the SavedModel version the previous run pushed, scored through its ``serving_default`` signature as TF
  Serving answers (``serving.score``): the span's samples are sent with their raw ids, users and items first seen
  in span t get the out-of-vocabulary row, and
  ``cold_start_share`` says how many samples that is;
* ``iu``: the previous run's IU model (the baseline), at full capacity;
* ``generated``: the previous run's generated model, at full capacity, when there was one (deployed or not);
* ``served_full``: the full-capacity model of the served source (``iu`` or ``generated``): the same weights with the
  rows the next Trainer gives new ids, i.e. what the bench would report for it;
* ``iu_served`` / ``generated_served``: the IU and the generated model's own SavedModels (the previous blessing names
  both), scored as ``served`` is: what each would have answered had it been pushed (like for like with ``served``).

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
from pipeline import fs, model_io
from pipeline import state as S
from pipeline.artifacts import SPAN
from pipeline.examples import read_period
from pipeline.history import GENERATED, History
from pipeline.user_module import import_user_module

SCORED = ("served", "iu", "generated", "served_full", "iu_served", "generated_served")


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        from serving.score import score_version

        start = time.perf_counter()
        import_user_module(exec_properties)  # registers the user's ranker, if any
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        previous = input_dict.get("history") or []
        pushed = input_dict.get("pushed_model") or []
        blessing = input_dict.get("previous_blessing") or []
        out = artifact_utils.get_single_instance(output_dict["evaluation"])
        meta = S.read_period_meta(examples.uri)
        span, capacity = meta["span"], meta["capacity"]
        result: dict = {"span": span, "iteration": span - 1, "examples": meta["counts"]["examples"]}
        result.update(dict.fromkeys(SCORED), served_source=None, cold_start_share=None)
        data = read_period(S.split_files(examples.uri, "period")) if previous or pushed or blessing else None
        # the span's samples are sent to SavedModels as a client would: with their raw ids
        vocabulary = model_io.vocabulary(fs.join(examples.uri, S.PERIOD_DIR)) if pushed or blessing else None
        if previous:
            history = History.load(previous[0].uri)
            _check_span(history.span, span, "generator history")
            table = S.category_table(examples.uri, meta)
            config = TrainConfig(**history.info["train_config"])
            desc = model_io.description(history.info, "model_config")
            candidates = {"iu": history.iu_weights(span - 1), "generated": history.weights(GENERATED)}
            for name, weights in candidates.items():
                if weights is not None:
                    grown = model_io.weights_at_capacity(weights, capacity, config, span, desc)
                    model = model_io.model_with_weights(model_io.resized(desc, capacity), grown)
                    result[name] = evaluate(model, data, table)
        if pushed:
            push = pushed[0]
            _check_span(push.get_int_custom_property(SPAN), span, "pushed model")
            source = push.get_string_custom_property("source")
            scored = score_version(push.get_string_custom_property("pushed_destination"), data, vocabulary)
            result["served"] = {"auc": scored["auc"], "logloss": scored["logloss"]}
            result["served_source"] = source
            result["served_version"] = push.get_int_custom_property("pushed_version")
            result["cold_start_share"] = scored["cold_start_share"]
            result["served_full"] = result.get(source)
        if blessing:  # the SavedModels of the candidates the previous run chose between
            _check_span(blessing[0].get_int_custom_property(SPAN), span, "blessing")
            candidates = {"iu_served": "baseline_model", "generated_served": "current_model"}
            for name, prop in candidates.items():
                if name == "generated_served" and result["generated"] is None:
                    continue  # no generated model yet: the candidate artifact held the IU model
                if result["served"] is not None and name == f"{result['served_source']}_served":
                    result[name] = result["served"]  # the pushed version is this candidate's SavedModel, copied
                    continue
                scored = score_version(
                    model_io.serving_dir(blessing[0].get_string_custom_property(prop)), data, vocabulary
                )
                result[name] = {"auc": scored["auc"], "logloss": scored["logloss"]}
        if not previous and not pushed:
            result["note"] = "no model served before this span (the first update run pretrains)"
        result["seconds"] = time.perf_counter() - start
        S.write_json(os.path.join(out.uri, S.METRICS_FILE), result)
        out.set_int_custom_property(SPAN, span)
        out.set_int_custom_property("iteration", span - 1)
        out.set_string_custom_property("served_source", result["served_source"] or "none")
        if result["cold_start_share"] is not None:
            out.set_float_custom_property("cold_start_share", result["cold_start_share"])
        for name in SCORED:
            for metric, value in (result.get(name) or {}).items():
                out.set_float_custom_property(f"{name}_{metric}", float(value))


def _check_span(found: int, span: int, what: str) -> None:
    if found != span - 1:
        raise ValueError(f"span {span} must score the {what} of span {span - 1}, got span {found}'s")
