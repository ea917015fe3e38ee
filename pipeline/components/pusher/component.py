"""VersionedPusher component: IU model + generated model + blessing -> the one to serve, pushed as version ``span``."""

from __future__ import annotations

from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import channel, component_spec, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from pipeline.artifacts import Model, PushedModel
from pipeline.components.pusher.executor import Executor


class VersionedPusherSpec(component_spec.ComponentSpec):
    PARAMETERS = {"serving_dir": ExecutionParameter(type=str), "push": ExecutionParameter(type=str, optional=True)}
    INPUTS = {
        "model": ChannelParameter(type=Model),
        "generated_model": ChannelParameter(type=Model),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
    }
    OUTPUTS = {"pushed_model": ChannelParameter(type=PushedModel)}


class VersionedPusher(base_component.BaseComponent):
    """Pushes the generated model when ``model_blessing`` blesses it, else the IU model, to ``serving_dir/<span>``;
    ``push="both"`` also keeps the other one servable, under labels (see the executor)."""

    SPEC_CLASS = VersionedPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, model, generated_model, model_blessing, serving_dir: str, push: str = "one"):
        super().__init__(
            spec=VersionedPusherSpec(
                model=model,
                generated_model=generated_model,
                model_blessing=model_blessing,
                serving_dir=serving_dir,
                push=push,
                pushed_model=channel.Channel(type=PushedModel),
            )
        )
