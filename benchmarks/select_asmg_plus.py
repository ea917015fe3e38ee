"""How asmg_plus's settings are chosen: on the warm-up iterations only, never on the reported test iterations.

Every candidate (the faithful ASMG-GRUmulti, each asmg_plus component alone, and asmg_plus with a few settings
changed) runs through the paper's protocol with ``until = test_start - 1`` (iteration 23: the last model scored is
evaluated on period 24), so no test period (25-31) is read, trained on or scored. Candidates are ranked by mean AUC
over the warm-up iterations every candidate serves (15-23 when a k = 5 candidate runs); ties go to the earlier
(simpler) candidate. With ``--repeats N`` every candidate runs with N base-model seeds (``--out/seed-<s>/<tag>``),
the ranking is by the mean over replicates, and a candidate replaces the package default's settings (``--baseline``)
only when its paired warm-up gain over them has a 95 % t-interval above zero (``choose``): the spread over seeds
keeps the selection from picking noise.
The script prints the ranking, writes ``selection.json`` and the ``asmg bench`` command that runs the chosen
settings on the whole protocol.

    .venv/bin/python benchmarks/select_asmg_plus.py --data ../shared/data/online-retail-uci --out runs/select-or
    .venv/bin/python benchmarks/select_asmg_plus.py --out runs/select-synthetic          # the synthetic stream
    .venv/bin/python benchmarks/select_asmg_plus.py --data ../shared/data/movielens-latest-small --repeats 3 \
        --only plus_normalize_lr0.03,plus_normalize_lr0.1,plus_normalize_steps_wide_k5 --out runs/select-ml-r3

Runs are resumable (each candidate is an ordinary ``run_method`` output folder under ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from asmg_tf.cli_args import key_value  # noqa: E402
from asmg_tf.files import write_json  # noqa: E402

#: the settings every asmg_plus candidate starts from: asmg_plus as first built (no input normalisation, lr 0.01),
#: spelled out so a candidate keeps its meaning (and its stored run) when the package default changes
FIRST_SETTINGS = {"normalize": False, "lr": 0.01}

#: (tag, method, options on top of FIRST_SETTINGS for asmg_plus)
_CANDIDATES: list[tuple[str, str, dict]] = [
    ("faithful", "asmg_gru_multi", {}),
    ("plus", "asmg_plus", {}),
    ("fallback_only", "asmg_plus", {"residual": False}),
    ("residual_only", "asmg_plus", {"fallback": "none"}),
    ("plus_window3", "asmg_plus", {"fallback_window": 3}),
    ("plus_lr0.03", "asmg_plus", {"lr": 0.03}),
    ("plus_lr0.003", "asmg_plus", {"lr": 0.003}),
    ("plus_lr0.001", "asmg_plus", {"lr": 0.001}),
    ("plus_epochs2", "asmg_plus", {"epochs": 2}),
    ("plus_zero_state", "asmg_plus", {"carry_state": False}),
    ("plus_hidden8", "asmg_plus", {"hidden_size": 8}),
    ("plus_uniform", "asmg_plus", {"loss_weight": "uniform"}),
    ("plus_k5", "asmg_plus", {"k": 5}),
    ("plus_k5_lr0.001", "asmg_plus", {"k": 5, "lr": 0.001}),
    ("plus_batch256", "asmg_plus", {"batch_size": 256}),
    ("plus_full", "asmg_plus", {"k": "full", "carry_state": False}),
    ("plus_full_lr0.001", "asmg_plus", {"k": "full", "carry_state": False, "lr": 0.001}),
    ("plus_extrapolate", "asmg_plus", {"extrapolate": True}),
    ("plus_extrapolate_no_fallback", "asmg_plus", {"extrapolate": True, "fallback": "none"}),
    ("plus_extrapolate_k5", "asmg_plus", {"extrapolate": True, "k": 5}),
    ("plus_steps", "asmg_plus", {"extrapolation_steps": [1, 2, 4]}),
    ("plus_steps_window3", "asmg_plus", {"extrapolation_steps": [1, 2, 4], "fallback_window": 3}),
    ("plus_steps_k5", "asmg_plus", {"extrapolation_steps": [1, 2, 4], "k": 5}),
    ("plus_steps_wide_k5", "asmg_plus", {"extrapolation_steps": [0.5, 1, 2, 4, 8], "k": 5}),
    ("plus_steps_k5_window3", "asmg_plus", {"extrapolation_steps": [1, 2, 4], "k": 5, "fallback_window": 3}),
    ("plus_normalize", "asmg_plus", {"normalize": True}),
    ("plus_normalize_no_fallback", "asmg_plus", {"normalize": True, "fallback": "none"}),
    ("plus_normalize_k5", "asmg_plus", {"normalize": True, "k": 5}),
    ("plus_normalize_full", "asmg_plus", {"normalize": True, "k": "full", "carry_state": False}),
    ("plus_normalize_lr0.03", "asmg_plus", {"normalize": True, "lr": 0.03}),
    ("plus_normalize_lr0.003", "asmg_plus", {"normalize": True, "lr": 0.003}),
    ("plus_normalize_hidden8", "asmg_plus", {"normalize": True, "hidden_size": 8}),
    ("plus_normalize_epochs2", "asmg_plus", {"normalize": True, "epochs": 2}),
    (
        "plus_normalize_steps_wide_k5",
        "asmg_plus",
        {"normalize": True, "extrapolation_steps": [0.5, 1, 2, 4, 8], "k": 5},
    ),
    ("plus_normalize_lr0.1", "asmg_plus", {"normalize": True, "lr": 0.1}),
    ("plus_normalize_lr0.03_epochs2", "asmg_plus", {"normalize": True, "lr": 0.03, "epochs": 2}),
    ("plus_normalize_lr0.03_full", "asmg_plus", {"normalize": True, "lr": 0.03, "k": "full", "carry_state": False}),
]
#: the package default's settings (asmg_plus with no options): with replicates, a candidate replaces it only when its
#: paired warm-up gain over it is significant
BASELINE = "plus_normalize_lr0.03"
CANDIDATES: list[tuple[str, str, dict]] = [
    (tag, method, {**FIRST_SETTINGS, **options} if method == "asmg_plus" else options)
    for tag, method, options in _CANDIDATES
]


def select(rows: dict[str, list[dict]], iterations: list[int]) -> list[tuple[str, float, float]]:
    """``[(tag, mean AUC, mean LogLoss)]`` over ``iterations``, best AUC first (stable: ties keep input order)."""
    scored = []
    for tag, per_period in rows.items():
        by_i = {r["iteration"]: r for r in per_period}
        missing = [i for i in iterations if i not in by_i]
        if missing:
            raise ValueError(f"{tag}: no result for warm-up iteration(s) {missing}")
        auc = sum(by_i[i]["auc"] for i in iterations) / len(iterations)
        ll = sum(by_i[i]["logloss"] for i in iterations) / len(iterations)
        scored.append((tag, auc, ll))
    return sorted(scored, key=lambda s: -s[1])


def replicate_scores(per_seed: list[dict[str, list[dict]]], iterations: list[int]) -> dict[str, dict]:
    """Per candidate: warm-up mean AUC and LogLoss of each replicate, their mean and AUC sd (``stats.mean_sd``)."""
    from asmg_tf.bench import stats

    scores: dict[str, dict] = {}
    for rows in per_seed:
        for tag, auc, ll in select(rows, iterations):
            entry = scores.setdefault(tag, {"replicate_auc": [], "replicate_logloss": []})
            entry["replicate_auc"].append(auc)
            entry["replicate_logloss"].append(ll)
    for entry in scores.values():
        entry["auc"], entry["auc_sd"] = stats.mean_sd(entry["replicate_auc"])
        entry["logloss"] = stats.mean_sd(entry["replicate_logloss"])[0]
    return scores


def choose(scores: dict[str, dict], eligible: list[str], baseline: str) -> tuple[str, str]:
    """``(tag, why)``: with replicates, the best-ranked (replicate mean) ``eligible`` candidate whose paired warm-up
    gain over ``baseline`` has a 95 % t-interval above zero, else ``baseline`` (a gain within the seed noise does not
    replace it); with one replicate (no interval), the best mean, as before replicates existed."""
    from asmg_tf.bench import stats

    ranked = sorted(eligible, key=lambda t: -scores[t]["auc"])
    if len(scores[baseline]["replicate_auc"]) < 2:
        return ranked[0], "one replicate: the best warm-up mean AUC (no interval to judge noise by)"
    for tag in ranked:
        if tag == baseline:
            break
        d = stats.paired_difference(scores[tag]["replicate_auc"], scores[baseline]["replicate_auc"])
        if d["verdict"] == "win":
            return tag, f"best mean whose paired gain over {baseline} has a 95% t-interval above 0"
    return baseline, f"no candidate ranked above {baseline} beats it with a 95% t-interval above 0"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="data file or folder (default: the synthetic stream)")
    p.add_argument("--synthetic", action="append", default=[], type=key_value, metavar="KEY=VALUE")
    p.add_argument("--out", required=True)
    p.add_argument("--cache-dir")
    p.add_argument("--only", help="comma-separated candidate tags (default: all)")
    p.add_argument("--repeats", type=int, default=1, help="replicates (base-model seeds 123, 124, ...; default 1)")
    p.add_argument("--baseline", default=BASELINE, help=f"the candidate others must beat (default {BASELINE})")
    args = p.parse_args(argv)
    candidates = CANDIDATES
    if args.only:
        tags = args.only.split(",")
        unknown = sorted(set(tags) - {tag for tag, _, _ in CANDIDATES})
        if unknown:
            p.error(f"--only: unknown candidate(s) {unknown}; available: {[tag for tag, _, _ in CANDIDATES]}")
        candidates = [c for c in CANDIDATES if c[0] in tags]
    if not any(method == "asmg_plus" for _, method, _ in candidates):
        p.error("--only must name at least one asmg_plus candidate (the selection picks among them)")
    if args.baseline not in {tag for tag, method, _ in candidates if method == "asmg_plus"}:
        p.error(f"--baseline {args.baseline}: not an asmg_plus candidate of this run (add it to --only)")

    from asmg_tf import determinism
    from asmg_tf._keras_env import ensure_legacy_keras

    determinism.prepare()  # before TensorFlow loads (asmg_tf.determinism)
    ensure_legacy_keras()
    from asmg_tf.bench.bench import BenchSpec, prepare_context
    from asmg_tf.bench.replicates import replicate_dir, replicate_seeds
    from asmg_tf.bench.report import improvement
    from asmg_tf.bench.runner import run_method

    determinism.reproducible()
    seeds = replicate_seeds(None, args.repeats)
    per_seed, ctx = [], None
    for seed in seeds:
        spec = BenchSpec(
            data=args.data, synthetic=dict(args.synthetic), cache_dir=args.cache_dir, out=args.out, model_seed=seed
        )
        ctx, _ = prepare_context(spec)
        last_warmup = ctx.protocol.test_start - 1
        out = replicate_dir(args.out, seed, len(seeds))
        rows = {}
        for tag, method, options in [("iu", "iu", {})] + candidates:
            print(f"seed {seed}: {tag}: {method} {options} up to iteration {last_warmup}", file=sys.stderr, flush=True)
            rows[tag] = run_method(method, ctx, os.path.join(out, tag), options=options, until=last_warmup)[
                "per_period"
            ]
        per_seed.append(rows)
    proto = ctx.protocol
    last_warmup = proto.test_start - 1
    first = max(r[0]["iteration"] for rows in per_seed for r in rows.values())
    iterations = list(range(first, last_warmup + 1))
    scores = replicate_scores(per_seed, iterations)
    method_of = {tag: method for tag, method, _ in candidates}
    ranking = sorted((t for t in scores if t != "iu"), key=lambda t: -scores[t]["auc"])
    chosen, why = choose(scores, [t for t in ranking if method_of[t] == "asmg_plus"], args.baseline)
    options = {tag: opts for tag, _, opts in candidates}[chosen]
    iu = scores["iu"]["auc"]

    print(f"\nmean over warm-up iterations {first}-{last_warmup} (test iterations {proto.test_start}+ not run), "
          f"{len(seeds)} replicate(s), seeds {seeds}")  # fmt: skip
    print(f"{'candidate':<30} {'AUC':>7} {'sd':>7} {'vs IU':>7} {'LogLoss':>8}")
    for tag in ["iu"] + ranking:
        sd = scores[tag]["auc_sd"]
        print(
            f"{tag:<30} {scores[tag]['auc']:7.4f} {'–' if sd is None else f'{sd:.4f}':>7} "
            f"{improvement(scores[tag]['auc'], iu, True):+6.2f}% {scores[tag]['logloss']:8.4f}"
        )
    flags = " ".join(f"--option asmg_plus.{k}={json.dumps(v, separators=(',', ':'))}" for k, v in options.items())
    data = f"--data {args.data} " if args.data else ""
    command = f"asmg bench {data}--methods iu,asmg_gru_multi,asmg_plus {flags}".strip()
    print(f"\nchosen: {chosen} {options} ({why})\nrun it: {command}")
    result = {
        "dataset": ctx.periods.name,
        "warmup_iterations": iterations,
        "seeds": seeds,
        "candidates": {t: scores[t] for t in ["iu"] + ranking},
        "options": {tag: {"method": method, **opts} for tag, method, opts in candidates},
        "first_settings": FIRST_SETTINGS,
        "baseline": args.baseline,
        "rule": why,
        "chosen": chosen,
        "chosen_options": options,
        "command": command,
    }
    write_json(os.path.join(args.out, "selection.json"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
