"""One markdown table over replicated ``asmg bench --repeats N`` outputs: per dataset and method, the mean ± sd of
the mean test AUC over replicates, the paired difference against IU with its 95 % t-interval and verdict, the
paired bootstrap interval over replicates × test periods, and the mean ± sd of the mean test LogLoss.

Several folders of one dataset (e.g. the default methods and a run of the selected asmg_plus) are merged; a method
that appears in several is labelled with the folder's ``--label`` (``asmg_plus`` and ``asmg_plus (selected)``).

    .venv/bin/python benchmarks/replicate_table.py runs/r-ml runs/r-ml-sel:selected runs/r-synth runs/r-synth-sel:selected
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def rows(run: str, label: str = "") -> list[dict]:
    """One row per method of ``run`` (IU too), with ``label`` appended to a method's name when given."""
    with open(os.path.join(run, "results.json")) as f:
        results = json.load(f)
    setup = results.get("replicates_setup", {"count": 1})
    out = []
    for name, r in results["methods"].items():
        if label and name == "iu":
            continue  # IU is the same chain in every folder of a dataset: listed once, from the unlabelled folder
        out.append(
            {
                "dataset": results["dataset"],
                "method": f"{name} ({label})" if label else name,
                "n": setup["count"],
                "auc": r["mean_auc"],
                "auc_sd": r.get("auc_sd"),
                "diff": r.get("diff_vs_iu"),
                "logloss": r.get("mean_logloss"),
                "logloss_sd": r.get("logloss_sd"),
            }
        )
    return out


def _interval(ci: list[float] | None) -> str:
    return f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "–"


def _mean_sd(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.4f} ± " + ("–" if sd is None else f"{sd:.4f}")


def markdown(table: list[dict]) -> str:
    lines = [
        "| dataset | method | replicates | AUC mean ± sd | ΔAUC vs IU (95 % t-interval) | verdict "
        "| paired bootstrap (replicates × test periods) | LogLoss mean ± sd |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        d = r["diff"]
        if d is None:
            diff, verdict, boot = "–", "–", "–"
        else:
            ci = d.get("ci95")
            diff = f"{d['mean']:+.4f} " + (_interval(ci) if ci else "(no interval)")
            verdict, boot = d.get("verdict", "–"), _interval(d.get("bootstrap_ci95"))
        auc, loss = _mean_sd(r["auc"], r["auc_sd"]), _mean_sd(r.get("logloss"), r.get("logloss_sd"))
        lines.append(f"| {r['dataset']} | {r['method']} | {r['n']} | {auc} | {diff} | {verdict} | {boot} | {loss} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="asmg bench --out folders, each optionally FOLDER:LABEL")
    args = p.parse_args(argv)
    table = []
    for spec in args.runs:
        run, _, label = spec.partition(":")
        table += rows(run, label)
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
