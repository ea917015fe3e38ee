"""The stock Trainer's GenericExecutor, plus the span custom property on its Model (later runs resolve by it)."""

from __future__ import annotations

from typing import Any

from tfx.components.trainer import executor as trainer_executor
from tfx.types import artifact_utils

from pipeline import model_io
from pipeline.artifacts import SPAN


class Executor(trainer_executor.GenericExecutor):
    """Runs ``run_fn``, then tags the Model with the span it was trained on and its role."""

    def Do(self, input_dict: dict[str, list], output_dict: dict[str, list], exec_properties: dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(output_dict["model"])
        info = model_io.read_info(model.uri)
        model.set_int_custom_property(SPAN, int(info["span"]))
        model.set_string_custom_property("role", info["role"])
