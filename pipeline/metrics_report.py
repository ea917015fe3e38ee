"""The per-period history of the test-then-train metrics: a table and a PNG (``asmg pipeline metrics``).

Rows come from the TestThenTrain artifacts in MLMD (newest per span). Row t-1 (iteration) holds the models of
span t-1 scored on span t: ``served`` (the pushed SavedModel, as TF Serving answered), ``iu`` and ``generated``
(full capacity), and the share of span t's samples with a user or item the served model did not know. Each row also
says what span t pushed and why (the ``BlessingGate`` decision). The summary and the plot reuse the bench's report
code (``asmg_tf.bench.report``) with ``served``, ``iu`` and ``generated`` as the "methods"; their seconds are the
wall seconds of the pipeline runs (served), the IU epochs and the generator's meta-training.
"""

from __future__ import annotations

import math
import os

from pipeline import state as S

MODELS = ("served", "iu", "generated")
#: the summaries: model kind -> its metrics' key in a row, as served (SavedModels through serving_default, OOV rows
#: for ids new in the span) and at full capacity (the weights with the rows the next Trainer gives new ids)
AS_SERVED = {"served": "served", "iu": "iu_served", "generated": "generated_served"}
FULL_CAPACITY = {"served": "served_full", "iu": "iu", "generated": "generated"}


def metrics_rows(metadata_path: str) -> dict[int, dict]:
    """Span -> the newest TestThenTrain metrics of that span, with ``push``: that span's blessing decision."""
    from pipeline.metadata import artifacts_by_span, open_store

    with open_store(metadata_path) as store:
        evals = artifacts_by_span(store, "ModelEvaluation")
        blessings = artifacts_by_span(store, "ModelBlessing")
    rows = {t: S.read_json(os.path.join(a[-1].uri, S.METRICS_FILE)) for t, a in sorted(evals.items())}
    for t, row in rows.items():
        if t in blessings:
            record = S.read_json(os.path.join(blessings[t][-1].uri, "blessing.json"))
            row["push"] = record["decision"]
    return rows


def as_results(
    rows: dict[int, dict],
    test_iterations: range,
    dataset: str = "pipeline",
    seconds: dict | None = None,
    kinds: dict[str, str] | None = None,
) -> dict:
    """The rows in ``asmg bench``'s results shape, one "method" per model kind.

    ``kinds``: method name -> the row key holding its metrics (default ``FULL_CAPACITY``); ``seconds``:
    ``{kind: {iteration: seconds}}`` (``timing_by_model``), summed per kind over the rows it has."""
    methods = {}
    tests = set(test_iterations)
    seconds = seconds or {}
    for kind, key in (kinds or FULL_CAPACITY).items():
        per = [
            {
                "iteration": r["iteration"],
                "auc": r[key]["auc"],
                "logloss": r[key]["logloss"],
                "seconds": seconds.get(kind, {}).get(r["iteration"], float("nan")),
            }
            for r in rows.values()
            if r.get(key)
        ]
        if not per:
            continue
        test = [p for p in per if p["iteration"] in tests]
        methods[kind] = {
            "mean_auc": sum(p["auc"] for p in test) / len(test) if test else float("nan"),
            "mean_logloss": sum(p["logloss"] for p in test) / len(test) if test else float("nan"),
            "seconds": sum(p["seconds"] for p in per if not math.isnan(p["seconds"])),
            "per_period": per,
        }
    return {"dataset": dataset, "test_iterations": list(test_iterations), "methods": methods}


def timing_by_model(root: str, metadata_path: str) -> dict[str, dict[int, float]]:
    """``{kind: {iteration: seconds}}``: the run's wall seconds (served), the IU epoch (and pretraining) and the
    generator's meta-training of the span that produced the models scored in that iteration's row."""
    from pipeline.metadata import component_seconds
    from pipeline.timings import compute_seconds, run_seconds

    walls = run_seconds(root, component_seconds(metadata_path))
    compute = compute_seconds(metadata_path)
    return {
        "served": dict(walls),
        "iu": {t: c.get("iu", 0.0) + c.get("pretrain", 0.0) for t, c in compute.items() if "iu" in c},
        "generated": {t: c["meta"] for t, c in compute.items() if "meta" in c},
    }


def _cell(m: dict | None) -> str:
    return f"{m['auc']:.4f} {m['logloss']:.4f}" if m else f"{'-':>6} {'-':>6}"


def _push_cell(push: dict | None) -> str:
    """What this span pushed (serving the next span) and why, e.g. ``generated (blessed, auc +0.0012)``."""
    if not push:
        return "-"
    source = "generated" if push["blessed"] else "iu"
    if push["difference"] is None:
        why = "warm-up" if push["reason"].startswith("warm-up") else "no evidence"
    else:
        why = f"{'blessed' if push['blessed'] else 'not blessed'}, {push['difference']:+.4f}"
        if push["reason"].startswith("warm-up"):
            why = f"warm-up, {push['difference']:+.4f}"
    return f"{source} ({why})"


def format_rows(rows: dict[int, dict]) -> str:
    """One line per scored span: iteration, span, what served it, AUC and LogLoss of each model, the cold-start
    share, and what this span pushed (with the gate's reason: the generated-minus-IU difference it used)."""
    head = (
        f"{'iter':>4} {'span':>4} {'served':<9} {'served AUC LL':>13}   {'IU AUC LL':>13}   {'generated AUC LL':>16}"
        f" {'cold':>6}   pushed for the next span"
    )
    lines = [head]
    for r in rows.values():
        cold = r.get("cold_start_share")
        lines.append(
            f"{r['iteration']:>4} {r['span']:>4} {r.get('served_source') or '-':<9} {_cell(r.get('served')):>13}   "
            f"{_cell(r.get('iu')):>13}   {_cell(r.get('generated')):>16} "
            f"{'-' if cold is None else f'{100 * cold:.1f}%':>6}   {_push_cell(r.get('push'))}"
        )
    lines.append(
        "served = the pushed SavedModel as TF Serving answers (unseen ids -> the OOV row); IU and generated at full "
        "capacity; cold = share of the span's samples with a user or item the served model did not know"
    )
    return "\n".join(lines)


def push_summary(rows: dict[int, dict], test_iterations: range) -> str:
    """How often the generated model was pushed for the test iterations, and how it then compared with IU (like for
    like: both as served when the IU SavedModel was scored, else both at full capacity)."""
    tests = [r for r in rows.values() if r["iteration"] in set(test_iterations) and r.get("served_source")]
    if not tests:
        return ""
    gen = [r for r in tests if r["served_source"] == "generated"]
    line = f"served the generated model in {len(gen)} of {len(tests)} test iterations"
    pairs = [(r["served"], r["iu_served"]) if r.get("iu_served") else (r.get("served_full"), r.get("iu")) for r in gen]
    pairs = [(a, b) for a, b in pairs if a and b]
    if pairs:
        line += f" (not worse than IU in {sum(a['auc'] >= b['auc'] for a, b in pairs)} of them)"
    return line + "; IU otherwise"


def report(
    metadata_path: str,
    test_iterations: range,
    out_dir: str | None = None,
    dataset: str = "pipeline",
    root: str | None = None,
) -> dict:
    """``{"rows", "table", "summary", "plot", "results"}``; the PNG (and nothing else) is written under ``out_dir``.
    With ``root`` (the pipeline root) the summary's seconds are filled from the run timings."""
    from asmg_tf.bench.report import format_table, plot_results

    rows = metrics_rows(metadata_path)
    seconds = timing_by_model(root, metadata_path) if root else None
    results = as_results(rows, test_iterations, dataset, seconds)
    served = as_results(rows, test_iterations, dataset, seconds, AS_SERVED)
    table = format_rows(rows)
    parts = []
    if served["methods"] and _has_tests(served) and "iu" in served["methods"]:
        parts += ["as served (each model's SavedModel through serving_default; ids new in the span -> OOV row):",
                  format_table(served)]  # fmt: skip
    if results["methods"] and _has_tests(results):
        parts += ["at full capacity (the weights, new ids with the rows the next Trainer gives them):",
                  format_table(results), push_summary(rows, test_iterations)]  # fmt: skip
    summary = "\n".join(p for p in parts if p)
    plot = None
    if out_dir and results["methods"]:
        os.makedirs(out_dir, exist_ok=True)
        plot = plot_results(out_dir, results, filename="pipeline_metrics.png")
    return {"rows": rows, "table": table, "summary": summary, "plot": plot, "results": results, "as_served": served}


def _has_tests(results: dict) -> bool:
    return any(not math.isnan(m["mean_auc"]) for m in results["methods"].values())
