"""``asmg pipeline run|backfill|compile|metrics|spans``. Parsers only import argparse; handlers import TFX lazily."""

from __future__ import annotations

import argparse
import os
import sys

from asmg_tf.cli_args import add_no_wait, add_ranker_args, method_option
from asmg_tf.cli_args import key_value as _kv

DEFAULT_ROOT = "runs/pipeline"


def _add_data(p) -> None:
    g = p.add_argument_group("data (a new root only; default: the embedded synthetic stream)")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--spans", help="an existing spans folder (from `asmg pipeline spans`)")
    src.add_argument("--data", help="a raw log (any asmg_tf.data reader), cut into <root>/spans")
    g.add_argument("--format", help="reader for --data (default: detected)")
    g.add_argument("--split", choices=("count", "day", "week", "month"), help="period cut (default as asmg bench)")
    g.add_argument("--num-periods", type=int, default=31)
    g.add_argument("--synthetic", action="append", default=[], type=_kv, metavar="KEY=VALUE",
                   help="synthetic stream option, e.g. num_users=500 (repeatable)")  # fmt: skip
    g.add_argument("--data-seed", type=int, default=1234, help="seed of the synthetic stream and period cut")


def _add_knobs(p) -> None:
    g = p.add_argument_group("pipeline knobs (fixed when the root is created; default: paper settings)")
    g.add_argument("--protocol", action="append", default=[], type=_kv, metavar="KEY=VALUE",
                   help="protocol field: pretrain_end, update_start, test_start, test_end, num_periods")  # fmt: skip
    g.add_argument(
        "--method", help="update method (default asmg_plus, the protected generator; the paper's: asmg_gru_multi)"
    )
    g.add_argument("--option", action="append", default=[], type=method_option, metavar="METHOD.KEY=VALUE",
                   help="an option of the pipeline's method, e.g. asmg_plus.k=3 (repeatable; as in asmg bench)")  # fmt: skip
    add_ranker_args(g, "your module file: registers the --model ranker and defines run_fn (see README)")
    g.add_argument("--warmup", type=int, help="meta-training periods before the generated model may be pushed")
    g.add_argument("--bless-window", type=int, metavar="M",
                   help="push the generated model only if not worse than IU over the last M scored spans (default 1)")  # fmt: skip
    g.add_argument("--bless-threshold", type=float, metavar="T",
                   help="how much worse than IU still counts as a tie, in metric points (default 0)")  # fmt: skip
    g.add_argument("--bless-metric", choices=("auc", "logloss"), help="the blessing's metric (default auc)")
    g.add_argument("--push", choices=("one", "both"),
                   help="one: push the blessed choice as version <span> (default); both: A/B, the other model too, "
                   "versions 2*span (canary) and 2*span+1 (stable) with labels in <serving>/models.config")  # fmt: skip
    g.add_argument("--capacity-headroom", type=float, help="spare embedding rows as a fraction (default 0.5)")
    g.add_argument("--lr", type=float, help="base-model learning rate (default: the paper's for the data kind)")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--pretrain-epochs", type=int)
    g.add_argument("--seed", type=int, help="base-model seed (init, shuffles)")
    g.add_argument("--sample-seed", type=int, help="negative-sampling seed")
    g.add_argument("--beam-arg", action="append", default=None, metavar="ARG",
                   help="Beam pipeline option passed through, e.g. --beam-arg=--runner=FlinkRunner (repeatable)")  # fmt: skip
    g.add_argument("--no-cache", action="store_true", help="re-execute components even when cached")


def _add_root(p) -> None:
    p.add_argument("--root", default=DEFAULT_ROOT, help=f"pipeline root folder (default {DEFAULT_ROOT})")
    add_no_wait(p)


def add_parser(sub) -> None:
    """The ``pipeline`` command and its subcommands."""
    top = sub.add_parser(
        "pipeline",
        help="the TFX pipeline: one run per period, backfills, Kubeflow compile, metrics",
        description="Run the TFX pipeline locally (LocalDagRunner, Beam DirectRunner) one period (span) per run, "
        "backfill a range of periods, compile it for Kubeflow Pipelines, print the test-then-train metrics.",
    )
    cmds = top.add_subparsers(dest="pipeline_command", metavar="SUBCOMMAND")

    p = cmds.add_parser("run", help="run one period", description="Run the pipeline for one span.")
    _add_root(p)
    p.add_argument("--span", type=int, required=True, help="the span (period) to run")
    _add_data(p)
    _add_knobs(p)
    p.set_defaults(func=_handler("run"))

    p = cmds.add_parser(
        "backfill",
        help="run a range of periods, resuming",
        description="Run spans FROM..TO in order with a progress bar; finished spans are skipped, so an interrupted "
        "backfill resumes where it stopped. Ends with the served model directory and the metrics table. Without "
        "--spans/--data a new root uses the embedded synthetic stream.",
    )
    _add_root(p)
    p.add_argument("--from", dest="first", type=int, help="first span (default: the first)")
    p.add_argument("--to", dest="last", type=int, help="last span (default: the last)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data(p)
    _add_knobs(p)
    p.set_defaults(func=_handler("backfill"))

    p = cmds.add_parser(
        "compile",
        help="compile a Kubeflow Pipelines V2 spec",
        description="Compile the pipeline (KubeflowV2DagRunner, offline) into a JSON PipelineJob or a YAML "
        "PipelineSpec for the component image built from pipeline/Dockerfile.",
    )
    p.add_argument("--output", default="runs/kubeflow/asmg_pipeline.json", help=".json (PipelineJob) or .yaml")
    p.add_argument("--image", required=True, help="component image, e.g. gcr.io/PROJECT/asmg:0.1.0")
    p.add_argument("--pipeline-root", required=True, help="pipeline root as the pods see it (a mounted path)")
    p.add_argument("--spans-root", required=True, help="span folders as the pods see them")
    p.add_argument("--serving-dir", required=True, help="TF Serving model base path as the pods see it")
    p.add_argument("--spans-info", help="a spans.json to take the data settings from (else implicit, no categories)")
    p.add_argument("--data-kind", help="hyper-parameter preset: tmall, sobazaar, movielens")
    _add_knobs(p)
    p.set_defaults(func=_handler("compile"))

    p = cmds.add_parser("metrics", help="per-period test-then-train metrics: table and PNG")
    _add_root(p)
    p.add_argument("--png", help="folder for pipeline_metrics.png (default <root>/reports)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of the table")
    p.add_argument("--timings", action="store_true", help="also print wall time per component and the overhead")
    p.set_defaults(func=_handler("metrics"))

    p = cmds.add_parser(
        "spans", help="cut a raw log into span folders", description="Cut a full log into span-<t>/ folders."
    )
    p.add_argument("--out", required=True, help="spans folder to write")
    p.add_argument("--overwrite", action="store_true")
    _add_data(p)
    p.set_defaults(func=_handler("spans"))
    top.set_defaults(func=lambda args: (top.print_help(), 2)[1])


def _handler(name: str):
    def run(args) -> int:
        from asmg_tf.quiet import import_tensorflow

        import_tensorflow(verbose=getattr(args, "verbose", False))
        from pipeline import commands

        return getattr(commands, name)(args)

    def locked(args) -> int:
        """One writer per pipeline root (``asmg_tf.locking``), taken before TensorFlow loads so ``--no-wait`` answers
        at once; the temporaries of a killed writer are swept under it."""
        from asmg_tf.locking import exclusive

        with exclusive(args.root, sweep=True):
            return run(args)

    return locked if name in ("run", "backfill") else run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asmg")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pipeline", *(sys.argv[1:] if argv is None else argv)])
    from asmg_tf.locking import run_command

    return run_command(args.func, args)


if __name__ == "__main__":
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    sys.exit(main())
