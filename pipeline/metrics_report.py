"""The per-period history of the test-then-train metrics: a table and a PNG (``asmg pipeline metrics``).

Rows come from the TestThenTrain artifacts in MLMD (newest per span). Row t-1 (iteration) holds the models of
span t-1 scored on span t: ``served`` (what was pushed), ``iu`` and ``generated``. The summary and the plot reuse the
bench's report code (``asmg_tf.bench.report``) with ``served``, ``iu`` and ``generated`` as the "methods".
"""

from __future__ import annotations

import math
import os

from pipeline import state as S

MODELS = ("served", "iu", "generated")


def metrics_rows(metadata_path: str) -> dict[int, dict]:
    """Span -> the newest TestThenTrain metrics of that span."""
    from pipeline.metadata import artifacts_by_span, open_store

    with open_store(metadata_path) as store:
        evals = artifacts_by_span(store, "ModelEvaluation")
    return {t: S.read_json(os.path.join(a[-1].uri, S.METRICS_FILE)) for t, a in sorted(evals.items())}


def as_results(rows: dict[int, dict], test_iterations: range, dataset: str = "pipeline") -> dict:
    """The rows in ``asmg bench``'s results shape, one "method" per model kind."""
    methods = {}
    tests = set(test_iterations)
    for kind in MODELS:
        per = [
            {"iteration": r["iteration"], "auc": r[kind]["auc"], "logloss": r[kind]["logloss"]}
            for r in rows.values()
            if r.get(kind)
        ]
        if not per:
            continue
        test = [p for p in per if p["iteration"] in tests]
        methods[kind] = {
            "mean_auc": sum(p["auc"] for p in test) / len(test) if test else float("nan"),
            "mean_logloss": sum(p["logloss"] for p in test) / len(test) if test else float("nan"),
            "seconds": float("nan"),  # not applicable: the pipeline reports time with --timings
            "per_period": per,
        }
    return {"dataset": dataset, "test_iterations": list(test_iterations), "methods": methods}


def _cell(m: dict | None) -> str:
    return f"{m['auc']:.4f} {m['logloss']:.4f}" if m else f"{'-':>6} {'-':>6}"


def format_rows(rows: dict[int, dict]) -> str:
    """One line per scored span: iteration, span, what was served, AUC and LogLoss of each model."""
    head = f"{'iter':>4} {'span':>4} {'served':<9} {'served AUC LL':>13}   {'IU AUC LL':>13}   {'generated AUC LL':>16}"
    lines = [head]
    for r in rows.values():
        lines.append(
            f"{r['iteration']:>4} {r['span']:>4} {r.get('served_source') or '-':<9} {_cell(r.get('served')):>13}   "
            f"{_cell(r.get('iu')):>13}   {_cell(r.get('generated')):>16}"
        )
    return "\n".join(lines)


def report(metadata_path: str, test_iterations: range, out_dir: str | None = None, dataset: str = "pipeline") -> dict:
    """``{"rows", "table", "summary", "plot"}``; the PNG (and nothing else) is written under ``out_dir``."""
    from asmg_tf.bench.report import format_table, plot_results

    rows = metrics_rows(metadata_path)
    results = as_results(rows, test_iterations, dataset)
    table = format_rows(rows)
    summary = format_table(results) if results["methods"] and _has_tests(results) else ""
    plot = None
    if out_dir and results["methods"]:
        os.makedirs(out_dir, exist_ok=True)
        plot = plot_results(out_dir, results, filename="pipeline_metrics.png")
    return {"rows": rows, "table": table, "summary": summary, "plot": plot, "results": results}


def _has_tests(results: dict) -> bool:
    return any(not math.isnan(m["mean_auc"]) for m in results["methods"].values())
