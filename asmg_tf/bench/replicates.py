"""Replicates of one bench: the same periods, a different model seed per replicate, and the summary over them.

Replicate r runs every method with base-model seed s_r (initialisation, shuffles, and the ASMG generators'
initialisation and meta-training shuffles, which follow the base seed unless ``--option METHOD.seed`` fixes them);
with ``vary_sample_seed`` also with negative-sampling seed ``sample_seed + r`` (then each replicate has its own
periods). One replicate writes today's layout into ``out``; several write one ordinary bench folder per seed,
``out/seed-<s>`` (its own results.json, resumable, its own pretrained model in the cache, keyed by the seed), and
``out/results.json`` summarises them (``asmg_tf.bench.stats``). Replicates run one after another, each running all
methods, so an interrupted run already has complete replicates to summarise.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence

import numpy as np

from asmg_tf.bench import stats

#: the base seed when neither --seed nor --seeds is given: every preset's, ``TrainConfig.seed`` (written out here so
#: the summary stays free of TensorFlow; tests/test_bench_replicates.py checks they agree)
DEFAULT_SEED = 123


def replicate_seeds(model_seed: int | None, repeats: int = 1, seeds: Sequence[int] = ()) -> list[int | None]:
    """The model seed of each replicate: ``seeds`` when given, else ``repeats`` consecutive seeds from ``model_seed``
    (the preset's when None). One replicate without a seed keeps None (the preset's, as a plain run)."""
    if seeds:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"--seeds repeats a seed: {list(seeds)}")
        return list(seeds)
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    if repeats == 1:
        return [model_seed]
    base = DEFAULT_SEED if model_seed is None else model_seed
    return [base + r for r in range(repeats)]


def replicate_dir(out: str, seed: int | None, count: int) -> str:
    return out if count == 1 else os.path.join(out, f"seed-{seed}")


def run_replicates(spec, seeds: list[int | None], run_one: Callable) -> tuple[dict, list[dict]]:
    """Run ``run_one(replicate spec)`` for each seed (resuming finished ones from their folders); returns the summary
    and the replicates' results. The summary is written to ``spec.out/results.json`` after every replicate."""
    from asmg_tf.bench.report import format_table, write_replicates

    done: list[dict] = []
    summary: dict = {}
    for r, seed in enumerate(seeds):
        sub = dataclasses.replace(
            spec,
            model_seed=seed,
            sample_seed=spec.sample_seed + r if spec.vary_sample_seed else spec.sample_seed,
            out=replicate_dir(spec.out, seed, len(seeds)),
        )
        result = run_one(sub)
        if len(seeds) > 1 and not spec.quiet:
            print(f"replicate {r + 1} of {len(seeds)} (seed {seed}):\n{format_table(result)}", file=sys.stderr)
        result["replicate"] = {"seed": result["config"]["seed"], "sample_seed": sub.sample_seed, "out": sub.out}
        done.append(result)
        summary = summarize(done, spec.methods, reference=spec.reference, planned=len(seeds))
        summary["replicates_setup"]["vary_sample_seed"] = spec.vary_sample_seed
        write_replicates(spec.out, summary, done)
    return summary, done


def summarize(replicates: list[dict], methods: Sequence[str], reference: str | None = None, planned: int = 0) -> dict:
    """The summary of finished replicates (module docstring; README for the shape of results.json)."""
    first = replicates[0]
    tests = set(first["test_iterations"])
    out = {k: first[k] for k in ("dataset", "test_iterations", "data_summary") if k in first}
    out["config"] = dict(first["config"])
    if len(replicates) > 1:
        out["config"]["seed"] = [r["config"]["seed"] for r in replicates]
    out["stages"] = {k: sum(r["stages"][k] for r in replicates) for k in first["stages"]}
    out["replicates_setup"] = {
        "count": len(replicates),
        "planned": planned or len(replicates),
        "seeds": [r["replicate"]["seed"] for r in replicates],
        "sample_seeds": [r["replicate"]["sample_seed"] for r in replicates],
        "varies": "base-model seed: initialisation, shuffles, ASMG generator initialisation and meta shuffles",
    }
    out["statistics"] = {
        "ci": stats.CI_METHOD,
        "bootstrap": stats.BOOTSTRAP_METHOD,
        "units": "differences in AUC (and LogLoss), not percent; positive AUC difference = better",
        "reference": reference,
    }
    out["methods"] = {}
    for name in methods:
        runs = [r["methods"][name] for r in replicates]
        aucs, lls = [m["mean_auc"] for m in runs], [m["mean_logloss"] for m in runs]
        entry = {
            "mean_auc": stats.mean_sd(aucs)[0],
            "auc_sd": stats.mean_sd(aucs)[1],
            "mean_logloss": stats.mean_sd(lls)[0],
            "logloss_sd": stats.mean_sd(lls)[1],
            "seconds": sum(m["seconds"] for m in runs) / len(runs),
            "wall_seconds": sum(m.get("wall_seconds", 0.0) for m in runs),
            "replicates": [
                {"seed": rep["replicate"]["seed"], "mean_auc": m["mean_auc"], "mean_logloss": m["mean_logloss"]}
                for rep, m in zip(replicates, runs)
            ],
            "per_period": _per_period_mean(runs),
        }
        for key, base in (("diff_vs_iu", "iu"), ("diff_vs_reference", reference)):
            if base and base != name and base in methods:
                entry[key] = _paired(runs, [r["methods"][base] for r in replicates], tests)
        out["methods"][name] = entry
    return out


def _paired(runs: list[dict], base: list[dict], tests: set[int]) -> dict:
    """AUC difference (t-interval and the bootstrap beside) and LogLoss difference of ``runs`` minus ``base``."""
    auc = stats.paired_difference([m["mean_auc"] for m in runs], [m["mean_auc"] for m in base])
    diffs = []
    for m, bm in zip(runs, base):
        a = {p["iteration"]: p["auc"] for p in m["per_period"] if p["iteration"] in tests}
        b = {p["iteration"]: p["auc"] for p in bm["per_period"] if p["iteration"] in tests}
        if sorted(a) != sorted(b):  # pairing per period needs the same test iterations on both sides
            raise ValueError(f"paired methods scored different test iterations: {sorted(a)} vs {sorted(b)}")
        diffs.append([a[i] - b[i] for i in sorted(a)])
    boot = stats.paired_bootstrap(np.array(diffs))
    ll = stats.paired_difference([m["mean_logloss"] for m in runs], [m["mean_logloss"] for m in base])
    return {
        **auc,
        "bootstrap_ci95": None if boot is None else list(boot),
        "logloss": {k: ll[k] for k in ("mean", "sd", "ci95")},
    }


def _per_period_mean(runs: list[dict]) -> list[dict]:
    """Per iteration: mean and sd over replicates of AUC and LogLoss (the plot's line and band)."""
    rows = []
    for i, first in enumerate(runs[0]["per_period"]):
        at = [m["per_period"][i] for m in runs]
        row = {"iteration": first["iteration"]}
        for key in ("auc", "logloss", "seconds"):
            row[key], row[f"{key}_sd"] = stats.mean_sd([p.get(key, 0.0) for p in at])
        rows.append(row)
    return rows
