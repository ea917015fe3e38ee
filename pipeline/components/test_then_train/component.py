"""TestThenTrain component: the new span's examples + the previous history -> AUC/LogLoss (ModelEvaluation)."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec
from tfx.types.component_spec import ChannelParameter

from pipeline.artifacts import Examples, GeneratorHistory, PeriodMetrics
from pipeline.components.test_then_train.executor import Executor


class TestThenTrainSpec(component_spec.ComponentSpec):
    PARAMETERS = {}
    INPUTS = {
        "examples": ChannelParameter(type=Examples),
        "history": ChannelParameter(type=GeneratorHistory, optional=True),
    }
    OUTPUTS = {"evaluation": ChannelParameter(type=PeriodMetrics)}


class TestThenTrain(base_component.BaseComponent):
    """Scores the currently served model (and the IU / generated models) of span t-1 on span t, before training."""

    __test__ = False  # not a pytest class
    SPEC_CLASS = TestThenTrainSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples, history=None):
        super().__init__(
            spec=TestThenTrainSpec(examples=examples, history=history, evaluation=channel.Channel(type=PeriodMetrics))
        )
