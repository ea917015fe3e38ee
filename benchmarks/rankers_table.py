"""One markdown table over several ``asmg bench`` runs with different rankers (``--model``): methods x rankers x
datasets, mean AUC / LogLoss over the test iterations with the improvement over IU (the same ranker's IU), and a
second table of the seconds per period of each method's update step (meta-training and generation for the ASMG
generators).

    .venv/bin/python benchmarks/rankers_table.py runs/rankers/*/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from asmg_tf.bench.report import improvement  # noqa: E402  (no TensorFlow import)


def load(paths: list[str]) -> dict[tuple[str, str], dict]:
    """``{(dataset, ranker): results}``."""
    runs = {}
    for path in paths:
        with open(path) as f:
            results = json.load(f)
        runs[(results["dataset"], results["config"].get("model", "embedding_mlp"))] = results
    return runs


def cell(results: dict, method: str) -> str:
    m, iu = results["methods"].get(method), results["methods"]["iu"]
    if m is None:
        return "–"
    if method == "iu":
        return f"{m['mean_auc']:.4f} / {m['mean_logloss']:.4f}"
    auc = improvement(m["mean_auc"], iu["mean_auc"], True)
    ll = improvement(m["mean_logloss"], iu["mean_logloss"], False)
    return f"{m['mean_auc']:.4f} ({auc:+.2f}%) / {m['mean_logloss']:.4f} ({ll:+.2f}%)"


def step_seconds(results: dict, method: str) -> str:
    rows = results["methods"].get(method, {}).get("per_period", [])
    return f"{statistics.mean(r['seconds'] for r in rows):.2f}" if rows else "–"


def tables(runs: dict[tuple[str, str], dict]) -> str:
    keys = sorted(runs)
    methods = list(dict.fromkeys(m for key in keys for m in runs[key]["methods"]))
    head = "| method | " + " | ".join(f"{d} · {r}" for d, r in keys) + " |"
    rule = "|---" * (len(keys) + 1) + "|"
    out = ["Mean AUC / LogLoss over the test iterations (improvement over the same ranker's IU)", "", head, rule]
    out += [f"| {m} | " + " | ".join(cell(runs[k], m) for k in keys) + " |" for m in methods]
    out += ["", "Seconds per period of the update step (mean over iterations; generators: meta-training + generation)"]
    out += ["", head, rule]
    out += [f"| {m} | " + " | ".join(step_seconds(runs[k], m) for k in keys) + " |" for m in methods]
    out += ["", "Pretraining seconds: " + ", ".join(f"{d} · {r} {runs[(d, r)]['stages']['pretrain_seconds']:.0f}"
                                                    for d, r in keys)]  # fmt: skip
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results.json of asmg bench runs")
    print(tables(load(parser.parse_args(argv).results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
