"""Argument types shared by the command lines (``asmg``, ``asmg pipeline``, the benchmarks); standard library only."""

from __future__ import annotations

import argparse
import json


def key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` -> ``(key, value)``; the value is parsed as JSON when it can be (``4``, ``0.1``, ``true``),
    else kept as the string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse names the flag in the error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A number > 0 (argparse names the flag in the error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def method_option(text: str) -> tuple[str, str, object]:
    """``METHOD.KEY=VALUE`` -> ``(method, key, value)``, the value parsed as in ``key_value`` (the meaning of
    ``--option`` in every command: ``asmg bench`` and ``asmg pipeline``)."""
    lhs, value = key_value(text)
    method, dot, key = lhs.partition(".")
    if not dot or not method or not key:
        raise argparse.ArgumentTypeError(f"--option wants METHOD.KEY=VALUE (e.g. asmg_plus.k=3), got {text!r}")
    return method, key, value


def split_names(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [name.strip() for name in text.split(",") if name.strip()]


def add_no_wait(parser: argparse.ArgumentParser) -> None:
    """``--no-wait``: fail at once (exit code 3, naming the holder) when another process writes the same folder."""
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="if another asmg process holds this folder's lock, exit at once with code 3 instead of waiting",
    )


def add_ranker_args(parser, module_help: str = "your module file that registers the --model ranker (see README)"):
    """``--model``, ``--model-option KEY=VALUE`` (repeatable) and ``--model-module FILE``: the ranker, the same in
    ``asmg bench``, ``asmg pipeline`` and ``asmg export``."""
    parser.add_argument(
        "--model", help="the ranker: embedding_mlp (default), dcn_v2, din, or one --model-module registers"
    )
    parser.add_argument("--model-option", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                        help="an option of the ranker, e.g. cross_layers=3 (repeatable)")  # fmt: skip
    parser.add_argument("--model-module", metavar="FILE", help=module_help)
