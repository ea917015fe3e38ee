"""The ``asmg`` command line. Fast paths (``--help``) import neither TensorFlow nor TFX."""

from __future__ import annotations

import argparse
import os
import sys

from asmg_tf.cli_args import key_value, positive_float, positive_int

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("online-retail", "movielens", "sobazaar", "tmall", "paper-csv", "generic")


def _parse_option(text: str) -> tuple[str, str, object]:
    """``method.key=value`` -> (method, key, value) with value parsed as JSON when possible."""
    lhs, value = key_value(text)
    method, dot, key = lhs.partition(".")
    if not dot or not method or not key:
        raise argparse.ArgumentTypeError(f"--option wants METHOD.KEY=VALUE, got {text!r}")
    return method, key, value


def add_bench_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="compare update methods on the paper's period protocol",
        description="Run update methods (IU, BU, SPMF, IncCTR, SML, ASMG, ...) on the same periods and report mean "
        "AUC/LogLoss over the test iterations, per-period JSON/CSV and a PNG plot.",
    )
    p.add_argument("--data", help="data file or folder; omit for the embedded synthetic stream")
    p.add_argument("--format", choices=FORMATS, help="reader for --data (default: auto-detect)")
    p.add_argument("--split", choices=("count", "day", "week", "month"), help="period cut (default per format)")
    p.add_argument("--num-periods", type=int, default=31)
    p.add_argument("--methods", default="iu", help="comma-separated method names (default: iu)")
    p.add_argument("--out", default="runs/bench", help="output folder (results.json, per_period.csv, plot)")
    p.add_argument("--cache-dir", help="cache of periods / pretrained models (default ~/.cache/asmg)")
    p.add_argument("--seed", type=int, default=1234, help="negative-sampling seed")
    p.add_argument("--lr", type=float, help="base-model learning rate (default: the paper's for the data kind)")
    p.add_argument("--batch-size", type=int, help="base-model batch size (default: the paper's for the data kind)")
    p.add_argument("--pretrain-epochs", type=int, help="pretraining epochs (default 10)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        type=_parse_option,
        metavar="METHOD.KEY=VALUE",
        help="a method option, e.g. asmg_gru_multi.k=4 (repeatable)",
    )
    p.add_argument(
        "--synthetic",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help="synthetic stream option, e.g. num_users=50000 (repeatable)",
    )
    p.add_argument("--no-plot", action="store_true")
    p.add_argument(
        "--plot-methods",
        default="",
        help="comma-separated methods for a second plot, auc_per_period_selected.png (e.g. iu,asmg_gru_multi,asmg_plus)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--list-methods", action="store_true", help="print the available methods and exit")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    import asmg_tf  # noqa: F401  (legacy Keras before TensorFlow)
    from asmg_tf.bench.bench import BenchSpec, run_bench
    from asmg_tf.updaters import METHODS

    if args.list_methods:
        print("\n".join(sorted(METHODS)))
        return 0
    options: dict = {}
    for method, key, value in args.option:
        options.setdefault(method, {})[key] = value
    synthetic = dict(args.synthetic)
    if args.data and not os.path.exists(args.data):
        print(f"asmg bench: --data {args.data}: no such file or folder", file=sys.stderr)
        return 2
    spec = BenchSpec(
        data=args.data,
        format=args.format,
        split=args.split,
        num_periods=args.num_periods,
        seed=args.seed,
        methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()),
        out=args.out,
        cache_dir=args.cache_dir,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        pretrain_epochs=args.pretrain_epochs,
        options=options,
        synthetic=synthetic,
        plot=not args.no_plot,
        plot_methods=tuple(m.strip() for m in args.plot_methods.split(",") if m.strip()),
        quiet=args.quiet,
    )
    run_bench(spec)
    return 0


def _serving(command: str):
    """A handler that imports ``serving.commands`` only when run (``asmg --help`` stays TensorFlow-free)."""

    def run(args) -> int:
        try:
            from serving import commands
        except ModuleNotFoundError as e:
            if e.name != "serving":
                raise
            print(
                "asmg: the serving package is not installed here: run `pip install -e .` (or scripts/bootstrap.sh)",
                file=sys.stderr,
            )
            return 2
        return getattr(commands, command)(args)

    return run


def _add_model_selection(p) -> None:
    p.add_argument("--target", default="127.0.0.1:8500", help="gRPC host:port of TF Serving or asmg serve")
    p.add_argument("--model", default="asmg", help="model name (default: asmg)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="model version (default: the latest)")
    which.add_argument("--label", help="version label, e.g. stable or canary")
    p.add_argument("--timeout", type=positive_float, default=5.0, help="deadline of each call in seconds (default 5)")


def add_serving_parsers(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="development model server speaking TF Serving's gRPC and REST protocols",
        description="Serve exported SavedModels over TF Serving's gRPC (PredictionService, ModelService) and REST "
        "APIs, loading versions like TF Serving, polling for new ones and hot-swapping them. For development and tests: "
        "production uses tensorflow/serving (see serving/deploy). Binds to 127.0.0.1 unless --host says otherwise.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-base-path", help="folder of <integer version>/ SavedModels (one model)")
    src.add_argument("--model-config-file", help="models.config text proto (model_config_list, versions, labels)")
    p.add_argument("--model-name", default="asmg", help="model name with --model-base-path (default: asmg)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port; default 8500)")
    p.add_argument("--rest-api-port", type=int, default=8501, help="REST port (0: any free port, -1: no REST)")
    p.add_argument("--file-system-poll-wait-seconds", type=float, default=2.0, help="version poll interval (0: never)")
    p.add_argument("--model-config-file-poll-wait-seconds", type=float, default=0.0, help="config re-read interval")
    p.add_argument("--max-batch-size", type=int, default=1024, help="largest batch per request (0: no limit)")
    p.add_argument("--workers", type=int, default=8, help="gRPC worker threads")
    p.set_defaults(func=_serving("serve"))

    p = sub.add_parser(
        "predict",
        help="click probabilities from a served model (gRPC Predict)",
        description="Send (user, item, history) rows to TF Serving or asmg serve and print one JSON line per row. "
        'Rows come from --user/--item/--hist or a JSON-lines file of {"user", "item", "hist"}.',
    )
    _add_model_selection(p)
    p.add_argument(
        "--signature",
        choices=("serving_default", "predict_raw"),
        default="serving_default",
        help="serving_default sends tf.Examples; predict_raw sends id tensors (models without categories)",
    )
    p.add_argument("--input", help="JSON-lines file of rows ('-' for stdin)")
    p.add_argument("--user", type=int)
    p.add_argument("--item", help="item id, or comma-separated ids (one row each)")
    p.add_argument("--hist", default="", help="history item ids, most recent first, comma-separated")
    p.add_argument("--batch-size", type=positive_int, default=256, help="rows per request (default 256)")
    p.set_defaults(func=_serving("predict"))

    p = sub.add_parser(
        "rank",
        help="top-k of candidate items for one user from a served model",
        description="Score candidate items for one user with the model's rank signature; prints a JSON list of "
        '{"item", "score"}, best first.',
    )
    _add_model_selection(p)
    p.add_argument("--user", type=int, required=True)
    p.add_argument("--candidates", required=True, help="comma-separated candidate item ids")
    p.add_argument("--hist", default="", help="history item ids, most recent first, comma-separated")
    p.add_argument("-k", "--k", type=positive_int, default=10, help="how many to return (default 10)")
    p.set_defaults(func=_serving("rank"))

    p = sub.add_parser(
        "export",
        help="export trained weights as a TF Serving SavedModel version",
        description="Write <base-dir>/<name>/<version>/ (serving_default, predict_raw, rank, classify, regress "
        "signatures, warm-up requests), atomically.",
    )
    p.add_argument("--weights", required=True, help="weights .npz (name -> array), e.g. an IU weights_XXX.npz")
    p.add_argument("--periods", help="PeriodSet folder, for the item -> categories table of models with categories")
    p.add_argument("--base-dir", required=True, help="models folder; TF Serving's base_path is <base-dir>/<name>")
    p.add_argument("--name", default="asmg", help="model name (default: asmg)")
    p.add_argument("--version", type=int, help="version number (default: Unix time, above existing ones)")
    p.add_argument("--no-warmup", action="store_true", help="do not write warm-up requests")
    p.add_argument("--config-out", help="also write a models.config serving this model (latest version)")
    p.set_defaults(func=_serving("export"))


def add_pipeline_parser(sub) -> None:
    """``asmg pipeline ...`` (the parser is argparse only; TFX loads when a subcommand runs)."""
    from pipeline.cli import add_parser

    add_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asmg", description="Keep recommender models fresh with ASMG.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_bench_parser(sub)
    add_serving_parsers(sub)
    add_pipeline_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
