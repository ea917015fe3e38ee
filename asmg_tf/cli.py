"""The ``asmg`` command line. Fast paths (``--help``) import neither TensorFlow nor TFX."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("online-retail", "movielens", "sobazaar", "tmall", "paper-csv", "generic")


def _parse_option(text: str) -> tuple[str, str, object]:
    """``method.key=value`` -> (method, key, value) with value parsed as JSON when possible."""
    import json

    try:
        lhs, value = text.split("=", 1)
        method, key = lhs.split(".", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--option wants METHOD.KEY=VALUE, got {text!r}") from None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return method, key, parsed


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
        metavar="KEY=VALUE",
        help="synthetic stream option, e.g. num_users=50000 (repeatable)",
    )
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--list-methods", action="store_true", help="print the available methods and exit")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    import json

    import asmg_tf  # noqa: F401  (legacy Keras before TensorFlow)
    from asmg_tf.bench.bench import BenchSpec, run_bench
    from asmg_tf.updaters import METHODS

    if args.list_methods:
        print("\n".join(sorted(METHODS)))
        return 0
    options: dict = {}
    for method, key, value in args.option:
        options.setdefault(method, {})[key] = value
    synthetic = {}
    for item in args.synthetic:
        k, _, v = item.partition("=")
        try:
            synthetic[k] = json.loads(v)
        except json.JSONDecodeError:
            synthetic[k] = v
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
        quiet=args.quiet,
    )
    run_bench(spec)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asmg", description="Keep recommender models fresh with ASMG.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_bench_parser(sub)
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
