"""``create_pipeline``: the one factory the local runner, the Kubeflow compiler and the tests share.

One run handles one span t::

    ImportExampleGen(span-t) -> StatisticsGen -> ExampleValidator <- ImportSchemaGen(checked-in schema)
        -> PeriodTransform (+ state of span t-1)                         examples of t, state of t
    only when span t is an update span (t >= update_start; earlier spans only build state):
        -> TestThenTrain (+ history, push of t-1)                         served/IU/generated of t-1 scored on t
        -> Trainer (+ IU model of t-1; after TestThenTrain)               pretraining (first) or IU on t
        -> AsmgGenerator (+ history of t-1)                               generated model, history of t
        -> BlessingGate (+ blessing of t-1)                               ModelBlessing: generated vs IU so far
        -> VersionedPusher                                                <serving_dir>/<t>/ (blessed: generated)

"Previous" inputs come from resolvers: ``resolution="span"`` picks the artifacts of span t-1 (local runs: reruns of
a finished span resolve the same inputs and are cache hits); ``"latest"`` uses ``LatestArtifactStrategy`` (the only
kind Kubeflow V2 compiles; each scheduled run there handles the newest span).
"""

from __future__ import annotations

import dataclasses
import os

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2, trainer_pb2

from asmg_tf.data.periods import HIST_LEN, Protocol
from asmg_tf.model_names import DEFAULT_RANKER
from asmg_tf.models.presets import preset
from pipeline import DEFAULT_METHOD
from pipeline.artifacts import GeneratorHistory, Model, PeriodState, PushedModel
from pipeline.beam_args import with_worker_environment
from pipeline.blessing import GateConfig
from pipeline.components import trainer_executor
from pipeline.components.blessing import BlessingGate
from pipeline.components.blessing.component import ModelBlessing
from pipeline.components.generator import AsmgGenerator
from pipeline.components.period_transform import PeriodTransform
from pipeline.components.pusher import VersionedPusher
from pipeline.components.resolvers import PreviousSpanStrategy
from pipeline.components.test_then_train import TestThenTrain

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema")
SPLIT = "period"
RESOLUTIONS = ("span", "latest")
#: Beam on the local machine: in-process DirectRunner (fast start for small spans)
LOCAL_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


def default_schema(explicit: bool) -> str:
    return os.path.join(SCHEMA_DIR, f"raw_events_{'explicit' if explicit else 'implicit'}.pbtxt")


def train_config_dict(
    data_kind: str,
    learning_rate: float | None = None,
    batch_size: int | None = None,
    pretrain_epochs: int | None = None,
    embedding_dim: int | None = None,
    seed: int | None = None,
    model: str | None = None,
    model_options: dict | None = None,
) -> dict:
    """The base model's ``TrainConfig`` (the ranker, the paper's preset for the data kind, overrides) as a dict."""
    config = preset(data_kind).replace(
        learning_rate=learning_rate,
        batch_size=batch_size,
        pretrain_epochs=pretrain_epochs,
        embedding_dim=embedding_dim,
        seed=seed,
        model=model,
        model_options=model_options or None,
    )
    return dataclasses.asdict(config)


def create_pipeline(
    *,
    pipeline_root: str,
    spans_root: str,
    serving_dir: str,
    pipeline_name: str = "asmg",
    metadata_path: str | None = None,
    span: int | None = None,
    resolution: str = "span",
    protocol: dict | None = None,
    first_span: int = 1,
    explicit: bool = False,
    positive_rating: float = 4.0,
    history_granularity: str = "timestamp",
    has_categories: bool = False,
    hist_len: int = HIST_LEN,
    sample_seed: int = 1234,
    capacity_headroom: float = 0.5,
    data_kind: str = "sobazaar",
    learning_rate: float | None = None,
    batch_size: int | None = None,
    pretrain_epochs: int | None = None,
    embedding_dim: int | None = None,
    train_seed: int | None = None,
    model: str = DEFAULT_RANKER,
    model_options: dict | None = None,
    model_module: str | None = None,
    method: str = DEFAULT_METHOD,
    method_options: dict | None = None,
    warmup_periods: int = -1,
    bless_window: int = 1,
    bless_threshold: float = 0.0,
    bless_metric: str = "auc",
    push: str = "one",
    schema_path: str | None = None,
    beam_pipeline_args: list[str] | None = None,
    worker_image: str | None = None,
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
    """The pipeline of one run.

    Args:
        pipeline_root: where TFX writes artifacts; serving_dir: ``<serving_dir>/<span>/`` pushed versions;
            spans_root: the span folders (``pipeline.spans``); metadata_path: MLMD sqlite file (local runs; None
            for Kubeflow, which brings its own).
        span: the span this run handles (None: the newest span found, as a scheduled run would).
        resolution: "span" (previous span's artifacts; needs ``span``) or "latest" (Kubeflow).
        protocol: ``Protocol`` fields (pretrain_end, update_start, test_start, ...; default: the paper's 31 periods).
        first_span: the span the state starts from (0 when the data have a history-only ``span-0``).
        explicit, positive_rating, history_granularity, has_categories, hist_len: the data (see ``spans.json``).
        sample_seed: negative-sampling seed. capacity_headroom: spare table rows, as a fraction (0.5 = +50%).
        data_kind: the paper's hyper-parameter preset (tmall, sobazaar, movielens); learning_rate, batch_size,
            pretrain_epochs, embedding_dim, train_seed: overrides.
        model, model_options: the ranker (a registered name, ``asmg_tf.models.registry``) and its options;
            model_module: the user's module file defining it (TFX packages it into the pipeline root and the
            Trainer, TestThenTrain and AsmgGenerator import it; it must also define ``run_fn``, the Trainer's).
        method, method_options: the ASMG variant and its options (``asmg bench --option`` keys).
        warmup_periods: generator meta-training rounds before its model is pushed (-1: the paper's protocol).
        push: "one" (the blessed choice as version ``span``) or "both" (A/B: the other model too, under
            ``stable``/``canary`` labels in ``<serving_dir>/models.config``; see the pusher).
        schema_path: raw-event schema (default: the checked-in one for implicit/explicit data).
        beam_pipeline_args: Beam options for every Beam component (DirectRunner in process by default; pass
            ``--runner=DataflowRunner ...`` etc. to scale out). worker_image: the image Beam's workers run when the
            args name no worker environment (``pipeline.beam_args``; default: the local ``make image`` tag).
        enable_cache: reuse finished executions (a rerun of a finished span changes nothing).
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    from pipeline.components.generator.executor import check_method

    check_method(method)  # an unknown name, or one that needs every period at once, fails here, not in a run
    if resolution == "span" and span is None:
        raise ValueError("resolution='span' resolves the previous span's artifacts: pass span=")
    proto = Protocol(**(protocol or {}))
    gate = GateConfig(window=int(bless_window), threshold=float(bless_threshold), metric=bless_metric)
    protocol_dict = dataclasses.asdict(proto)
    train = train_config_dict(
        data_kind, learning_rate, batch_size, pretrain_epochs, embedding_dim, train_seed, model, model_options
    )
    settings = {
        "explicit": bool(explicit),
        "positive_rating": float(positive_rating),
        "history_granularity": history_granularity,
        "has_categories": bool(has_categories),
        "hist_len": int(hist_len),
        "sample_seed": int(sample_seed),
        "capacity_headroom": float(capacity_headroom),
        "first_span": int(first_span),
        "pretrain_end": proto.pretrain_end,
        "update_start": proto.update_start,
    }

    def previous(node_id: str, key: str, artifact_type, producer: str, output_key: str):
        channel = tfx.dsl.Channel(type=artifact_type, producer_component_id=producer, output_key=output_key)
        if resolution == "span":
            node = tfx.dsl.Resolver(strategy_class=PreviousSpanStrategy, config={"span": span - 1}, **{key: channel})
        else:
            node = tfx.dsl.Resolver(strategy_class=tfx.dsl.experimental.LatestArtifactStrategy, **{key: channel})
        return node.with_id(node_id)

    example_gen = tfx.components.ImportExampleGen(
        input_base=spans_root,
        input_config=example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name=SPLIT, pattern="span-{SPAN}/*")]),
        # one split, every event (the default would hash a single input split into train/eval)
        output_config=example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[example_gen_pb2.SplitConfig.Split(name=SPLIT, hash_buckets=1)]
            )
        ),
        range_config=None
        if span is None
        else range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        ),
    )
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=schema_path or default_schema(explicit))
    validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    state_in = previous("previous_state", "state", PeriodState, "PeriodTransform", "state")
    transform = PeriodTransform(
        events=example_gen.outputs["examples"],
        anomalies=validator.outputs["anomalies"],
        previous_state=state_in.outputs["state"],
        settings=settings,
    )
    history_in = previous("previous_history", "history", GeneratorHistory, "AsmgGenerator", "updated_history")
    model_in = previous("previous_model", "model", Model, "Trainer", "model")
    push_in = previous("previous_push", "pushed_model", PushedModel, "VersionedPusher", "pushed_model")
    blessing_in = previous("previous_blessing", "blessing", ModelBlessing, "BlessingGate", "blessing")
    examples = transform.outputs["examples"]
    with tfx.dsl.Cond(examples.future()[0].custom_property("trainable") == 1):
        metrics = TestThenTrain(
            examples=examples,
            history=history_in.outputs["history"],
            pushed_model=push_in.outputs["pushed_model"],
            previous_blessing=blessing_in.outputs["blessing"],
            module_file=model_module,
        )
        # a user's model module is the Trainer's module file (TFX packages it; its run_fn is the package's)
        trainer_code = {"module_file": model_module} if model_module else {"run_fn": "pipeline.trainer_module.run_fn"}
        trainer = tfx.components.Trainer(
            **trainer_code,
            examples=examples,
            base_model=model_in.outputs["model"],
            train_args=trainer_pb2.TrainArgs(splits=[SPLIT]),
            eval_args=trainer_pb2.EvalArgs(splits=[SPLIT]),
            custom_config={"train": train, "protocol": protocol_dict},
            custom_executor_spec=executor_spec.ExecutorClassSpec(trainer_executor.Executor),
        )
        trainer.add_upstream_node(metrics)  # test, then train: span t is scored before anything learns from it
        generator = AsmgGenerator(
            model=trainer.outputs["model"],
            examples=examples,
            history=history_in.outputs["history"],
            method=method,
            method_options=method_options,
            warmup_periods=warmup_periods,
            protocol=protocol_dict,
            train_config=train,
            data_kind=data_kind,
            module_file=model_module,
        )
        gate = BlessingGate(
            evaluation=metrics.outputs["evaluation"],
            model=trainer.outputs["model"],
            generated_model=generator.outputs["generated_model"],
            previous_blessing=blessing_in.outputs["blessing"],
            config=gate,
        )
        pusher = VersionedPusher(
            model=trainer.outputs["model"],
            generated_model=generator.outputs["generated_model"],
            model_blessing=gate.outputs["blessing"],
            serving_dir=serving_dir,
            push=push,
        )
    components = [
        example_gen,
        statistics_gen,
        schema_gen,
        validator,
        state_in,
        transform,
        history_in,
        model_in,
        push_in,
        blessing_in,
        metrics,
        trainer,
        generator,
        gate,
        pusher,
    ]
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=(
            tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path) if metadata_path else None
        ),
        beam_pipeline_args=with_worker_environment(
            LOCAL_BEAM_ARGS if beam_pipeline_args is None else beam_pipeline_args, worker_image
        ),
    )
