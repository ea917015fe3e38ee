"""TestThenTrain component: the new span's examples + the previous history and push -> AUC/LogLoss (ModelEvaluation)."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts
from tfx.types.component_spec import ChannelParameter

from pipeline.artifacts import Examples, GeneratorHistory, PeriodMetrics, PushedModel
from pipeline.components.test_then_train.executor import Executor
from pipeline.user_module import MODULE_PARAMETERS, add_module_dependency


class TestThenTrainSpec(component_spec.ComponentSpec):
    PARAMETERS = dict(MODULE_PARAMETERS)
    INPUTS = {
        "examples": ChannelParameter(type=Examples),
        "history": ChannelParameter(type=GeneratorHistory, optional=True),
        "pushed_model": ChannelParameter(type=PushedModel, optional=True),
        "previous_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
    }
    OUTPUTS = {"evaluation": ChannelParameter(type=PeriodMetrics)}


class TestThenTrain(base_component.BaseComponent):
    """Scores the served SavedModel (the previous push, as TF Serving answers) and the IU / generated models of span
    t-1 on span t, before anything trains on span t."""

    __test__ = False  # not a pytest class
    SPEC_CLASS = TestThenTrainSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples, history=None, pushed_model=None, previous_blessing=None, module_file=None):
        super().__init__(
            spec=TestThenTrainSpec(
                examples=examples,
                history=history,
                pushed_model=pushed_model,
                previous_blessing=previous_blessing,
                module_file=module_file,
                evaluation=channel.Channel(type=PeriodMetrics),
            )
        )
        add_module_dependency(self)  # the user's ranker, to rebuild the previous models
