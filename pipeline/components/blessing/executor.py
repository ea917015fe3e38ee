"""BlessingGate executor: roll the record of comparisons forward by this span's, decide, write the blessing.

``blessing.json`` (atomic) holds the whole record, so a resumed or rerun pipeline keeps its decision history::

    {"span", "config", "blessed", "decision": {...}, "comparisons": {scored span: {"generated", "iu"}},
     "decisions": {span: {"blessed", "reason", "difference", ...}}}
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from pipeline import fs
from pipeline import state as S
from pipeline.artifacts import SPAN
from pipeline.blessing import BLESSED, NOT_BLESSED, GateConfig, comparison, decide

RECORD = "blessing.json"


def read_record(uri: str) -> dict:
    path = fs.join(uri, RECORD)
    if not fs.exists(path):
        raise FileNotFoundError(f"{uri} is not a blessing of this pipeline (no {RECORD})")
    return S.read_json(path)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        evaluation = artifact_utils.get_single_instance(input_dict["evaluation"])
        iu = artifact_utils.get_single_instance(input_dict["model"])
        generated = artifact_utils.get_single_instance(input_dict["generated_model"])
        previous = input_dict.get("previous_blessing") or []
        config = GateConfig(
            window=int(exec_properties["window"]),
            threshold=float(exec_properties["threshold"]),
            metric=exec_properties["metric"],
        )
        metrics = S.read_json(os.path.join(evaluation.uri, S.METRICS_FILE))
        span = int(metrics["span"])
        record = {"comparisons": {}, "decisions": {}}
        if previous:
            record = read_record(previous[0].uri)
            if int(record["span"]) != span - 1:
                raise ValueError(
                    f"span {span} rolls forward the blessing record of span {span - 1}, got {record['span']}'s"
                )
        compared = comparison(metrics)
        if compared is not None:
            record["comparisons"][str(span)] = compared
        decision = decide(
            record["comparisons"], span, config, warmed_up=bool(generated.get_int_custom_property("deploy"))
        )
        record["decisions"][str(span)] = decision
        out = artifact_utils.get_single_instance(output_dict["blessing"])
        S.write_json(
            os.path.join(out.uri, RECORD),
            {
                **record,
                "span": span,
                "config": dataclasses.asdict(config),
                "blessed": decision["blessed"],
                "decision": decision,
            },
        )
        marker = BLESSED if decision["blessed"] else NOT_BLESSED
        fs.write_bytes(fs.join(out.uri, marker), b"")
        out.set_int_custom_property("blessed", int(decision["blessed"]))
        out.set_int_custom_property(SPAN, span)
        out.set_string_custom_property("current_model", generated.uri)
        out.set_int_custom_property("current_model_id", generated.id)
        out.set_string_custom_property("baseline_model", iu.uri)
        out.set_int_custom_property("baseline_model_id", iu.id)
        out.set_string_custom_property("reason", decision["reason"])
        if decision["difference"] is not None:
            out.set_float_custom_property("difference", float(decision["difference"]))
