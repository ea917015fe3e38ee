"""``asmg [--verbose] COMMAND ...``: build the parser from each package's subcommands and dispatch."""

from __future__ import annotations

import argparse
import os
import sys

# legacy Keras and a quiet TensorFlow must be chosen before anything imports it
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_parser() -> argparse.ArgumentParser:
    from asmg_tf.bench.cli import add_parser as add_bench
    from pipeline.cli import add_parser as add_pipeline
    from serving.cli import add_parsers as add_serving

    parser = argparse.ArgumentParser(prog="asmg", description="Keep recommender models fresh with ASMG.")
    parser.add_argument(
        "--verbose", action="store_true", help="keep TensorFlow's start-up and retracing messages (hidden by default)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_bench(sub)
    add_serving(sub)
    add_pipeline(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from asmg_tf.locking import run_command

    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
