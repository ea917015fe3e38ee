"""Where a run's time goes: wall seconds per span and per component, against the bare training compute.

Bare compute = what ``asmg bench`` would spend on the same period: the IU epoch (and pretraining, in its run) from the
Trainer's ``model.json``, plus the generator's meta-training (``observe``) from its history. Everything else
(Beam ingestion, statistics, validation, the transform, exports, MLMD bookkeeping) is the pipeline's overhead.
"""

from __future__ import annotations

import json
import os
import statistics

from pipeline import state as S
from pipeline.metadata import artifacts_by_span, component_seconds, open_store


def run_seconds(root: str, rows: list[dict]) -> dict[int, float]:
    """Span -> wall seconds of its newest run: from ``runs.jsonl``, else from MLMD (first execution's start to the
    last one's end; misses the runner's start-up before the first component)."""
    from pipeline.runners.local import RUNS_LOG

    out: dict[int, float] = {}
    path = os.path.join(root, RUNS_LOG)
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                out[int(r["span"])] = float(r["seconds"])
    spans: dict[int, list[dict]] = {}
    for r in rows:
        if r["span"] is not None and r["state"] == "COMPLETE":
            spans.setdefault(r["span"], []).append(r)
    for t, rs in spans.items():
        out.setdefault(t, max(r["end"] for r in rs) - min(r["start"] for r in rs))
    return out


def compute_seconds(metadata_path: str) -> dict[int, dict]:
    """Span -> {"iu", "pretrain", "meta"} seconds of the training work itself."""
    out: dict[int, dict] = {}
    with open_store(metadata_path) as store:
        models = artifacts_by_span(store, "Model")
        histories = artifacts_by_span(store, "File")
    for t, arts in models.items():
        iu = [a for a in arts if a.custom_properties.get("role") and a.custom_properties["role"].string_value == "iu"]
        if iu:
            info = S.read_json(os.path.join(iu[-1].uri, "asmg", "model.json"))
            out.setdefault(t, {})["iu"] = info.get("iu_seconds", 0.0)
            out[t]["pretrain"] = info.get("pretrain_seconds", 0.0)
    for t, arts in histories.items():
        info = S.read_json(os.path.join(arts[-1].uri, "history.json"))
        out.setdefault(t, {})["meta"] = info["seconds"]["observe"]
    return out


def summary(root: str, metadata_path: str, update_start: int) -> dict:
    """Per-component mean seconds (data-only spans and update spans apart), per-span wall and compute, ratios."""
    all_rows = component_seconds(metadata_path)
    rows = [r for r in all_rows if r["state"] == "COMPLETE" and r["span"] is not None]
    per_component: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        phase = "update" if r["span"] >= update_start else "data"
        per_component.setdefault(r["component"], {}).setdefault(phase, []).append(r["seconds"])
    walls = run_seconds(root, all_rows)
    compute = compute_seconds(metadata_path)
    spans = []
    for t in sorted(walls):
        c = compute.get(t, {})
        bare = c.get("iu", 0.0) + c.get("pretrain", 0.0) + c.get("meta", 0.0)
        spans.append({"span": t, "wall": walls[t], "compute": bare, "ratio": walls[t] / bare if bare else None})
    update = [s for s in spans if s["span"] > update_start and s["compute"]]
    return {
        "components": {
            name: {phase: {"mean": statistics.mean(v), "n": len(v)} for phase, v in phases.items()}
            for name, phases in per_component.items()
        },
        "spans": spans,
        "update_span_mean_wall": statistics.mean(s["wall"] for s in update) if update else None,
        "update_span_mean_compute": statistics.mean(s["compute"] for s in update) if update else None,
    }


def format_summary(s: dict) -> str:
    lines = [f"{'component':<18} {'data spans':>12} {'update spans':>13}"]
    for name, phases in sorted(s["components"].items(), key=lambda kv: -kv[1].get("update", {"mean": 0})["mean"]):
        cells = [f"{phases[p]['mean']:9.2f} s" if p in phases else f"{'-':>11}" for p in ("data", "update")]
        lines.append(f"{name:<18} {cells[0]:>12} {cells[1]:>13}")
    if s["update_span_mean_wall"]:
        w, c = s["update_span_mean_wall"], s["update_span_mean_compute"]
        lines.append(f"update spans after the first: {w:.1f} s wall, {c:.2f} s training compute, overhead x{w / c:.1f}")
    return "\n".join(lines)
