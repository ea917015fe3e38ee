"""BlessingGate component: test-then-train metrics + the previous decisions -> a standard ``ModelBlessing``.

TFX's Evaluator blesses a candidate by scoring it (and a baseline) on evaluation data with TFMA. Here the candidate,
the model generated at span t, has no unseen data yet: span t+1 is the future, and span t is in its training window.
The only honest evidence is what TestThenTrain already measured, the previous generated and IU models scored on
span t before anything trained on it, so the gate turns those metrics into the blessing (``pipeline.blessing``)
instead of scoring again. The artifact looks like the Evaluator's: custom property ``blessed`` (1/0), the marker file
``BLESSED`` or ``NOT_BLESSED``, ``current_model`` / ``baseline_model`` URIs; the Pusher reads it.
"""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from pipeline.artifacts import Model, PeriodMetrics
from pipeline.blessing import GateConfig
from pipeline.components.blessing.executor import Executor

ModelBlessing = standard_artifacts.ModelBlessing


class BlessingGateSpec(component_spec.ComponentSpec):
    PARAMETERS = {
        "window": ExecutionParameter(type=int),
        "threshold": ExecutionParameter(type=float),
        "metric": ExecutionParameter(type=str),
    }
    INPUTS = {
        "evaluation": ChannelParameter(type=PeriodMetrics),
        "model": ChannelParameter(type=Model),
        "generated_model": ChannelParameter(type=Model),
        "previous_blessing": ChannelParameter(type=ModelBlessing, optional=True),
    }
    OUTPUTS = {"blessing": ChannelParameter(type=ModelBlessing)}


class BlessingGate(base_component.BaseComponent):
    """Blesses the generated model of this span when it was not worse than IU over the last ``window`` scored spans.

    Args:
        evaluation: this span's TestThenTrain metrics (the previous generated and IU models scored on this span).
        model: this span's IU model (the baseline, for lineage); generated_model: the candidate.
        previous_blessing: the previous span's blessing, whose record of comparisons this one rolls forward.
        window, threshold, metric: the rule (``pipeline.blessing.GateConfig``).
    """

    SPEC_CLASS = BlessingGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, evaluation, model, generated_model, previous_blessing=None, *, config: GateConfig):
        super().__init__(
            spec=BlessingGateSpec(
                evaluation=evaluation,
                model=model,
                generated_model=generated_model,
                previous_blessing=previous_blessing,
                window=config.window,
                threshold=float(config.threshold),
                metric=config.metric,
                blessing=channel.Channel(type=ModelBlessing),
            )
        )
