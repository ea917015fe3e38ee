"""AsmgGenerator component: this run's IU model + period + the generator history -> generated Model + new history."""

from __future__ import annotations

import json

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from pipeline import DEFAULT_METHOD
from pipeline.artifacts import Examples, GeneratorHistory, Model
from pipeline.components.generator.executor import Executor
from pipeline.user_module import MODULE_PARAMETERS, add_module_dependency


class AsmgGeneratorSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        "method": ExecutionParameter(type=str),
        "method_options": ExecutionParameter(type=str),
        "warmup_periods": ExecutionParameter(type=int),
        "protocol": ExecutionParameter(type=str),
        "train_config": ExecutionParameter(type=str),
        "data_kind": ExecutionParameter(type=str),
        **MODULE_PARAMETERS,
    }
    INPUTS = {
        "model": ChannelParameter(type=Model),
        "examples": ChannelParameter(type=Examples),
        "history": ChannelParameter(type=GeneratorHistory, optional=True),
    }
    OUTPUTS = {
        "generated_model": ChannelParameter(type=Model),
        "updated_history": ChannelParameter(type=GeneratorHistory),
    }


class AsmgGenerator(base_component.BaseComponent):
    """Runs an update method (any of ``asmg bench``'s but SPMF and SML-MF; by default asmg_plus, the protected ASMG
    generator) one period per run, through the library's step (``asmg_tf.updaters.step``).

    Args:
        model: this run's IU model (Trainer output).
        examples: this run's period (PeriodTransform output): the newest meta-training target.
        history: the history written by the previous run (absent in the first update run).
        method: the update method's name, e.g. ``asmg_plus``, ``asmg_gru_multi``, ``iu``, ``bu3``, ``incctr``;
            ``method_options``: its options (as ``asmg bench --option METHOD.KEY=VALUE``).
        warmup_periods: meta-training rounds before the generated model is pushed (-1: the paper's protocol).
        protocol, train_config: the run's protocol and base-model settings; data_kind: the presets' data kind.
        module_file: the user's model module (``pipeline.user_module``), when the ranker is not a shipped one.
    """

    SPEC_CLASS = AsmgGeneratorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        model,
        examples,
        history=None,
        *,
        method: str = DEFAULT_METHOD,
        method_options: dict | None = None,
        warmup_periods: int = -1,
        protocol: dict,
        train_config: dict,
        data_kind: str = "sobazaar",
        module_file: str | None = None,
    ):
        spec = AsmgGeneratorSpec(
            model=model,
            examples=examples,
            history=history,
            method=method,
            method_options=json.dumps(method_options or {}, sort_keys=True),
            warmup_periods=int(warmup_periods),
            protocol=json.dumps(protocol, sort_keys=True),
            train_config=json.dumps(train_config, sort_keys=True),
            data_kind=data_kind,
            module_file=module_file,
            generated_model=channel.Channel(type=Model),
            updated_history=channel.Channel(type=GeneratorHistory),
        )
        super().__init__(spec=spec)
        add_module_dependency(self)
