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
