"""How asmg_plus's settings are chosen: on the warm-up iterations only, never on the reported test iterations.

Every candidate (the faithful ASMG-GRUmulti, each asmg_plus component alone, and asmg_plus with a few settings
changed) runs through the paper's protocol with ``until = test_start - 1`` (iteration 23: the last model scored is
evaluated on period 24), so no test period (25-31) is read, trained on or scored. Candidates are ranked by mean AUC
over the warm-up iterations every candidate serves (13-23 with k = 3); ties go to the earlier (simpler) candidate.
The script prints the ranking, writes ``selection.json`` and the ``asmg bench`` command that runs the chosen
settings on the whole protocol.

    .venv/bin/python benchmarks/select_asmg_plus.py --data ../shared/data/online-retail-uci --out runs/select-or
    .venv/bin/python benchmarks/select_asmg_plus.py --out runs/select-synthetic          # the synthetic stream

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="data file or folder (default: the synthetic stream)")
    p.add_argument("--synthetic", action="append", default=[], type=key_value, metavar="KEY=VALUE")
    p.add_argument("--out", required=True)
    p.add_argument("--cache-dir")
    p.add_argument("--only", help="comma-separated candidate tags (default: all)")
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

    from asmg_tf._keras_env import ensure_legacy_keras

    ensure_legacy_keras()
    from asmg_tf.bench.bench import BenchSpec, prepare_context
    from asmg_tf.bench.report import improvement
    from asmg_tf.bench.runner import run_method

    spec = BenchSpec(data=args.data, synthetic=dict(args.synthetic), cache_dir=args.cache_dir, out=args.out)
    ctx, _ = prepare_context(spec)
    proto = ctx.protocol
    last_warmup = proto.test_start - 1
    rows = {}
    for tag, method, options in [("iu", "iu", {})] + candidates:
        print(f"{tag}: {method} {options} up to iteration {last_warmup}", file=sys.stderr, flush=True)
        rows[tag] = run_method(method, ctx, os.path.join(args.out, tag), options=options, until=last_warmup)[
            "per_period"
        ]
    first = max(r[0]["iteration"] for r in rows.values())
    iterations = list(range(first, last_warmup + 1))
    ranking = select({t: r for t, r in rows.items() if t != "iu"}, iterations)
    (iu,) = select({"iu": rows["iu"]}, iterations)
    method_of = {tag: method for tag, method, _ in candidates}
    chosen = next(t for t, _, _ in ranking if method_of[t] == "asmg_plus")
    options = {tag: opts for tag, _, opts in candidates}[chosen]

    print(f"\nmean over warm-up iterations {first}-{last_warmup} (test iterations {proto.test_start}+ not run)")
    print(f"{'candidate':<16} {'AUC':>7} {'vs IU':>7} {'LogLoss':>8}")
    for tag, auc, ll in [iu] + ranking:
        print(f"{tag:<16} {auc:7.4f} {improvement(auc, iu[1], True):+6.2f}% {ll:8.4f}")
    flags = " ".join(f"--option asmg_plus.{k}={json.dumps(v, separators=(',', ':'))}" for k, v in options.items())
    data = f"--data {args.data} " if args.data else ""
    command = f"asmg bench {data}--methods iu,asmg_gru_multi,asmg_plus {flags}".strip()
    print(f"\nchosen: {chosen} {options}\nrun it: {command}")
    result = {
        "dataset": ctx.periods.name,
        "warmup_iterations": iterations,
        "candidates": {t: {"auc": a, "logloss": ll} for t, a, ll in [iu] + ranking},
        "options": {tag: {"method": method, **opts} for tag, method, opts in candidates},
        "first_settings": FIRST_SETTINGS,
        "chosen": chosen,
        "chosen_options": options,
        "command": command,
    }
    write_json(os.path.join(args.out, "selection.json"), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
