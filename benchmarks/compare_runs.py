"""One markdown table over several ``asmg bench`` outputs: a method against the best of the others, per dataset.

For each ``--out`` folder of ``asmg bench`` (its ``results.json``): IU's mean test AUC, the best other paper method,
``--method``'s mean test AUC and its gap to both, and the mean meta-training seconds per iteration of ``--method``
and of ``--reference`` (the generators record them in their saved state).

    .venv/bin/python benchmarks/compare_runs.py runs/final-or runs/final-ml runs/final-ml1m runs/final-synth
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from asmg_tf.bench.report import improvement  # noqa: E402  (no TensorFlow import)


def _meta_seconds(run: str, method: str) -> float | None:
    path = os.path.join(run, "methods", method, "progress.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        seconds = json.load(f).get("extra_state", {}).get("meta_seconds", {})
    return sum(seconds.values()) / len(seconds) if seconds else None


def row(run: str, method: str, reference: str) -> dict:
    with open(os.path.join(run, "results.json")) as f:
        results = json.load(f)
    aucs = {m: r["mean_auc"] for m, r in results["methods"].items()}
    if method not in aucs or "iu" not in aucs:
        raise SystemExit(f"{run}: results.json lacks {method!r} or 'iu'")
    others = {m: a for m, a in aucs.items() if m != method}
    best = max(others, key=others.get)
    return {
        "dataset": results["dataset"],
        "iu": aucs["iu"],
        "best_other": best,
        "best_other_auc": others[best],
        "auc": aucs[method],
        "vs_iu_pct": improvement(aucs[method], aucs["iu"], True),
        "vs_best_pct": improvement(aucs[method], others[best], True),
        "meta_seconds": _meta_seconds(run, method),
        "reference_meta_seconds": _meta_seconds(run, reference),
    }


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="asmg bench --out folders")
    p.add_argument("--method", default="asmg_plus")
    p.add_argument("--reference", default="asmg_gru_multi", help="generator whose meta-training time is shown beside")
    args = p.parse_args(argv)
    rows = [row(r, args.method, args.reference) for r in args.runs]
    print(
        f"| dataset | IU AUC | best other (AUC) | {args.method} AUC | vs IU | vs best other | "
        f"meta s/iteration: {args.method} / {args.reference} |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['iu']:.4f} | {r['best_other']} ({r['best_other_auc']:.4f}) | {r['auc']:.4f} | "
            f"{r['vs_iu_pct']:+.2f}% | {r['vs_best_pct']:+.2f}% | "
            f"{_fmt(r['meta_seconds'])} / {_fmt(r['reference_meta_seconds'])} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
