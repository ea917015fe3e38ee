"""PeriodTransform component: raw span + schema check + previous state -> the period's examples + the next state."""

from __future__ import annotations

import json

from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from pipeline.artifacts import Examples, PeriodState
from pipeline.components.period_transform.executor import Executor


class PeriodTransformSpec(component_spec.ComponentSpec):
    PARAMETERS = {"settings": ExecutionParameter(type=str)}
    INPUTS = {
        "events": ChannelParameter(type=standard_artifacts.Examples),
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        "previous_state": ChannelParameter(type=PeriodState, optional=True),
    }
    OUTPUTS = {
        "examples": ChannelParameter(type=Examples),
        "state": ChannelParameter(type=PeriodState),
    }


class PeriodTransform(base_beam_component.BaseBeamComponent):
    """Builds span t's training examples (user, item, history of up to 30, categories, label) with the paper's
    preprocessing, and writes the state (append-only vocabularies, histories, items seen) the next span needs.

    Args:
        events: the span's raw events (ImportExampleGen output, split ``period``).
        anomalies: ExampleValidator's report for them; any anomaly stops the run.
        previous_state: the state after span t-1 (absent for the first span).
        settings: preprocessing settings (``pipeline.factory.transform_settings``): explicit labels, positive
            rating, history granularity, hist_len, negative-sampling seed, capacity headroom, protocol spans.
    """

    SPEC_CLASS = PeriodTransformSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

    def __init__(self, events, anomalies, previous_state=None, settings: dict | None = None):
        spec = PeriodTransformSpec(
            events=events,
            anomalies=anomalies,
            previous_state=previous_state,
            settings=json.dumps(settings or {}, sort_keys=True),
            examples=channel.Channel(type=Examples),
            state=channel.Channel(type=PeriodState),
        )
        super().__init__(spec=spec)
