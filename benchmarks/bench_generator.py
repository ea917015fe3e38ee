"""Meta-training cost of the ASMG generator: seconds per period and peak memory, row gathering on and off.

For each dataset, method (asmg_gru_multi, asmg_gru_full, or asmg_plus with its default settings) and
row-gathering setting, a fresh worker process times
the real ``MetaTrainer.train_epoch`` of the last test iteration (i = test_end: multi reads 3 IU models and trains on
3 target periods, full reads every IU model since update_start and trains on all their target periods). The first
``--warmup`` steps (tracing) are not timed; ``--steps`` steps are, and the period's time is extrapolated as
nb x mean step time + the carried-state recomputation (multi). Peak memory is the worker's peak resident set size
over the meta-training steps (VmHWM reset just before the first step, tracing included), next to its resident size
before them (data, base model, window and hidden state).

``--batch-sizes 1024,256`` times other meta batch sizes than the base one: how many rows a step touches (and
so the most row gathering can save) depends on it. ``--table-scales 1,4,16`` adds rows to the user and item tables that no sample touches: the row-gathered step
should stay flat while whole-table regeneration grows with the tables.

Timing does not depend on the weight values, so the IU models are the base model's initial weights plus small
noise (no pretraining or IU chain needed); data, batching, shapes and code path are the real ones.

    .venv/bin/python benchmarks/bench_generator.py                       # Online Retail + Tmall-sized synthetic
    .venv/bin/python benchmarks/bench_generator.py --datasets online-retail --steps 50
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from asmg_tf.cli_args import key_value, positive_int  # noqa: E402
from asmg_tf.files import write_json  # noqa: E402

DATASETS = {
    "online-retail": {"data": os.path.join(REPO, "..", "shared", "data", "online-retail-uci")},
    # the paper's Tmall: 49,986 users, 43,571 items, 634 categories, ~197k samples per day
    "tmall-synthetic": {"data": None, "synthetic": {"num_users": 50000, "num_items": 42000}},
}
METHODS = ("asmg_gru_multi", "asmg_gru_full")
TIMED_METHODS = METHODS + ("asmg_gru_single", "asmg_gru_unif", "asmg_gru_zero", "asmg_linear", "asmg_plus")


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (Linux >= 4.0)
        return True
    except OSError:
        return False


def worker(job: dict) -> dict:
    """Time one (dataset, method, row_gather) configuration in this process."""
    import numpy as np
    import tensorflow as tf

    import asmg_tf  # noqa: F401
    from asmg_tf.bench.bench import BenchSpec, load_periods
    from asmg_tf.bench.cache import default_cache_root
    from asmg_tf.generator import GeneratorState, MetaGenerator, MetaTrainer, model_spec, touched_rows
    from asmg_tf.generator.meta_train import feature_batch, loss_weights, num_batches, period_batches
    from asmg_tf.models import EmbeddingMLPRanker
    from asmg_tf.models.presets import preset
    from asmg_tf.models.weights import get_weights
    from asmg_tf.training.loop import ensure_built, make_optimizer
    from asmg_tf.updaters.asmg import FULL, VARIANTS, ASMGConfig
    from asmg_tf.updaters.asmg_plus import PLUS_VARIANTS, PlusConfig

    if job["dataset"].startswith("periods:"):
        from asmg_tf.data.periods import PeriodSet

        periods = PeriodSet.load(job["dataset"].split(":", 1)[1])
    else:
        spec = BenchSpec(**DATASETS[job["dataset"]])
        if job.get("synthetic"):
            spec.synthetic = {**spec.synthetic, **job["synthetic"]}
        periods, _, _ = load_periods(spec, job.get("cache_dir") or default_cache_root(), log=lambda m: None)
    config = preset(periods.kind)
    method = job["method"]
    cfg = ASMGConfig(**VARIANTS[method]) if method in VARIANTS else PlusConfig(**PLUS_VARIANTS[method])
    proto = periods.protocol
    i = proto.test_end
    window_periods = list(range(proto.update_start if cfg.k == FULL else i - cfg.k + 1, i + 1))
    scale = int(job.get("table_scale", 1))  # > 1: extra table rows that no sample touches (size sweep)
    tf.keras.utils.set_random_seed(config.seed)
    model = EmbeddingMLPRanker(
        periods.num_users * scale, periods.num_items * scale, periods.num_categories, config.embedding_dim
    )
    ensure_built(model)
    specs = model_spec(model)
    rng = np.random.default_rng(0)
    base = get_weights(model)
    models = [
        {k: v + 0.01 * rng.standard_normal(v.shape).astype(np.float32) for k, v in base.items()} for _ in window_periods
    ]
    generator = MetaGenerator(
        specs, cfg.generator, cfg.hidden_size, window=None if cfg.k == FULL else cfg.k, seed=1,
        residual=cfg.residual, extrapolate=cfg.extrapolate, normalize=cfg.normalize,
    )  # fmt: skip
    state = GeneratorState(generator, make_optimizer(cfg.lr), carry_state=cfg.carry_state)
    window = MetaGenerator.window_tensors(models, specs)
    if state.carry_state:  # a carried (non-zero) state, as in every iteration after the first
        state.set_hidden(generator.state_after_first_step(window))
    initial = state.initial_state()
    trainer = MetaTrainer(model, generator, state.optimizer, row_gather=job["row_gather"])
    weights = loss_weights(cfg.loss_weight, len(window_periods))
    targets = [periods.period(t + 1) for t in window_periods]
    steps = list(range(len(window_periods)))
    batch_size = int(job.get("batch_size") or config.batch_size)  # meta batch size (the paper: the base one)
    nb = num_batches(len(targets[-1]), batch_size)
    warmup, timed = job["warmup"], job["steps"]
    stamps: list[float] = []

    def on_step(b: int, loss: float) -> None:
        stamps.append(time.perf_counter())

    rss_before_kb = _status_kb("VmRSS")  # data, base model, window and state are in memory already
    reset = _reset_peak_rss()
    trainer.train_epoch(
        window, initial, targets, steps, weights, periods.item_categories, batch_size,
        seed=[0, i], max_steps=warmup + timed, on_step=on_step,
    )  # fmt: skip
    peak_kb = _status_kb("VmHWM")
    durations = np.diff(stamps[warmup - 1 :])
    carry_seconds = 0.0
    if state.carry_state:
        start = time.perf_counter()
        state.set_hidden(generator.state_after_first_step(window, initial))
        carry_seconds = time.perf_counter() - start
    # how much of each table one step's batches touch (explains the speed-up of row gathering)
    firsts = [period_batches(len(d), nb, np.random.default_rng([0, i, j]))[0] for j, d in enumerate(targets)]
    batches = [feature_batch(d, first, periods.item_categories) for d, first in zip(targets, firsts)]
    touched = {k: int(r.ids.shape[0]) for k, r in touched_rows(specs, model, batches).items()}
    tables = {s.key: s.shape[0] for s in specs if s.kind == "table"}
    return {
        **{k: job[k] for k in ("dataset", "method", "row_gather")},
        "iteration": i,
        "window": len(window_periods),
        "num_batches": nb,
        "batch_size": batch_size,
        "steps_timed": int(len(durations)),
        "step_seconds_mean": float(np.mean(durations)),
        "step_seconds_median": float(np.median(durations)),
        "carry_seconds": carry_seconds,
        "seconds_per_period": float(nb * np.mean(durations) + carry_seconds),
        "table_scale": scale,
        "rss_before_steps_mb": rss_before_kb / 1024,
        "peak_rss_during_steps_mb": peak_kb / 1024 if reset else None,
        "table_rows": tables,
        "rows_touched_per_step": touched,
        "num_users": periods.num_users,
        "num_items": periods.num_items,
        "samples_in_target_period": len(targets[-1]),
    }


def run_job(job: dict, timeout: float) -> dict:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"worker {job} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _same(a: dict, b: dict) -> bool:
    return all(a[k] == b[k] for k in ("dataset", "method", "table_scale", "batch_size"))


def format_rows(rows: list[dict]) -> str:
    lines = [
        f"{'dataset':<16} {'method':<15} {'rows':>5} {'batch':>5} {'gather':<6} {'nb':>4} {'s/step':>8} {'s/period':>9} "
        f"{'speed-up':>8} {'peak MB':>8} {'MB before':>9}"
    ]
    for r in rows:
        twin = next((x for x in rows if _same(x, r) and not x["row_gather"]), None)
        speed = f"{twin['seconds_per_period'] / r['seconds_per_period']:7.1f}x" if twin and r["row_gather"] else ""
        peak = r["peak_rss_during_steps_mb"]
        lines.append(
            f"{r['dataset'][:16]:<16} {r['method']:<15} {'x' + str(r['table_scale']):>5} {r['batch_size']:>5} "
            f"{'on' if r['row_gather'] else 'off':<6} {r['num_batches']:>4} {r['step_seconds_mean']:8.3f} "
            f"{r['seconds_per_period']:9.1f} {speed:>8} {(f'{peak:8.0f}' if peak else '       ?')} "
            f"{r['rss_before_steps_mb']:9.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help=f"comma-separated, from {list(DATASETS)}, or periods:DIR for a saved PeriodSet",
    )
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--steps", type=int, default=20, help="timed optimiser steps per configuration")
    p.add_argument("--warmup", type=positive_int, default=2, help="untimed first steps (tracing), at least 1")
    p.add_argument("--table-scales", default="1", help="comma-separated table-size multipliers, e.g. 1,4,16")
    p.add_argument(
        "--batch-sizes",
        default="",
        help="comma-separated meta batch sizes (default: the dataset's base batch size, as in the paper)",
    )
    p.add_argument(
        "--synthetic", action="append", default=[], type=key_value, metavar="KEY=VALUE", help="synthetic stream option"
    )
    p.add_argument("--cache-dir", help="period cache (default: asmg bench's)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    p.add_argument("--out", default=os.path.join(REPO, "runs", "bench-generator.json"))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    from tqdm.auto import tqdm

    synthetic = dict(args.synthetic)
    jobs = [
        {"dataset": d, "method": m, "row_gather": g, "steps": args.steps, "warmup": args.warmup,
         "synthetic": synthetic, "cache_dir": args.cache_dir, "table_scale": int(x), "batch_size": bs}
        for d in args.datasets.split(",") for m in args.methods.split(",") for x in args.table_scales.split(",")
        for bs in ([int(b) for b in args.batch_sizes.split(",") if b] or [None]) for g in (True, False)
    ]  # fmt: skip
    unknown = {j["dataset"] for j in jobs if not j["dataset"].startswith("periods:")} - set(DATASETS)
    if unknown:
        p.error(f"unknown dataset(s) {sorted(unknown)}; choose from {list(DATASETS)}")
    unknown = {j["method"] for j in jobs} - set(TIMED_METHODS)
    if unknown:
        p.error(f"unknown method(s) {sorted(unknown)}; choose from {list(TIMED_METHODS)}")
    rows = []
    for job in tqdm(jobs, desc="configurations", file=sys.stderr):
        rows.append(run_job(job, args.timeout))
        write_json(args.out, rows)
    print(format_rows(rows))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
