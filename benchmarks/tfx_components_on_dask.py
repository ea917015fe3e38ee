"""Do TFX's standard ImportExampleGen and StatisticsGen executors run on Beam's DaskRunner? Each runs on one span
(as ``pipeline.factory`` configures them) on a loopback dask.distributed cluster; the report says which ran and
the error of those that did not. StatisticsGen reads the DirectRunner ExampleGen output when ExampleGen fails.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/tfx_components_on_dask.py --out runs/tfx-on-dask
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from benchmarks.bench_beam_runners import DIRECT_ARGS, dask_args, loopback_cluster


def _artifact(cls, uri: str):
    a = cls()
    a.uri = uri
    os.makedirs(uri, exist_ok=True)
    return a


def _beam_context(beam_args: list[str], out: str):
    """A Beam executor's context; the workers' environment named (``pipeline.beam_args``: else TFX copies itself
    into /tmp on every call)."""
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor

    from pipeline.beam_args import with_worker_environment

    return BaseBeamExecutor.Context(
        beam_pipeline_args=with_worker_environment(beam_args), tmp_dir=os.path.join(out, ".tmp")
    )


def example_gen(spans_root: str, out: str, beam_args: list[str]):
    from google.protobuf import json_format
    from tfx.components.example_gen.import_example_gen.executor import Executor
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs

    examples = _artifact(standard_artifacts.Examples, out)
    split = example_gen_pb2.SplitConfig.Split(name="period", hash_buckets=1)
    props = {
        specs.INPUT_BASE_KEY: spans_root,
        specs.INPUT_CONFIG_KEY: json_format.MessageToJson(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="period", pattern="span-1/*")])
        ),
        specs.OUTPUT_CONFIG_KEY: json_format.MessageToJson(
            example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[split]))
        ),
        specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    Executor(_beam_context(beam_args, out)).Do({}, {specs.EXAMPLES_KEY: [examples]}, props)
    return examples


def statistics_gen(examples, out: str, beam_args: list[str]) -> None:
    from tfx.components.statistics_gen.executor import Executor
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs

    stats = _artifact(standard_artifacts.ExampleStatistics, out)
    Executor(_beam_context(beam_args, out)).Do({specs.EXAMPLES_KEY: [examples]}, {specs.STATISTICS_KEY: [stats]}, {})


def _attempt(name: str, fn, report: dict):
    try:
        result = fn()
        report[name] = {"ran": True}
        return result
    except Exception as e:  # the report is the point: which component fails on Dask, and how
        report[name] = {
            "ran": False,
            "error": f"{type(e).__name__}: {e}"[:2000],
            "where": traceback.format_exc()[-3000:],
        }
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    from asmg_tf.data.synthetic import synthetic_stream
    from pipeline.spans import write_spans

    spans = os.path.join(args.out, "spans")
    write_spans(synthetic_stream(seed=1, num_users=200, num_items=100, num_periods=6), spans, split="day",
                num_periods=6, overwrite=True)  # fmt: skip
    report: dict = {}
    direct = example_gen(spans, os.path.join(args.out, "direct-examples"), list(DIRECT_ARGS))
    with loopback_cluster() as cluster:
        on_dask = _attempt(
            "ImportExampleGen", lambda: example_gen(spans, os.path.join(args.out, "dask-examples"), dask_args(cluster)),
            report,
        )  # fmt: skip
        _attempt(
            "StatisticsGen",
            lambda: statistics_gen(on_dask or direct, os.path.join(args.out, "dask-stats"), dask_args(cluster)),
            report,
        )
    for name, r in report.items():
        print(f"{name}: {'ran' if r['ran'] else 'FAILED: ' + r['error'][:600]}")
    with open(os.path.join(args.out, "tfx_on_dask.json"), "w") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
