"""Run update methods through the protocol, resumably, and collect per-period metrics."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from asmg_tf.files import write_json
from asmg_tf.training.state import read_checkpoint, write_checkpoint
from asmg_tf.updaters import Context, make_method


def run_method(
    name: str,
    ctx: Context,
    out_dir: str,
    *,
    options: dict | None = None,
    on_iteration: Callable[[int, dict], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    until: int | None = None,
) -> dict:
    """Run method ``name`` over its iterations; returns ``{"per_period": [...], "seconds": float, ...}``.

    After each iteration the per-period results and the method's state are written atomically under
    ``out_dir/methods/<name>/``; a later call with the same ``out_dir`` resumes after the last finished iteration.
    ``until`` stops after that iteration (e.g. the last warm-up iteration, to select settings without touching
    the test periods).
    """
    proto = ctx.protocol
    method = make_method(name, ctx, **(options or {}))
    mdir = os.path.join(out_dir, "methods", name)
    os.makedirs(mdir, exist_ok=True)
    progress_path = os.path.join(mdir, "progress.json")
    state_dir = os.path.join(mdir, "state")
    if os.path.exists(progress_path):
        with open(progress_path) as f:
            progress = json.load(f)
        method.restore(progress.get("extra_state", {}))
        if method.trackables():
            read_checkpoint(state_dir, **method.trackables())
    else:
        progress = {"per_period": [], "last_iteration": None}
        method.start()
    first = method.first_iteration() if progress["last_iteration"] is None else progress["last_iteration"] + 1
    last = proto.test_end if until is None else min(until, proto.test_end)
    if on_start:  # (iterations this method serves, iterations already done)
        on_start(last - method.first_iteration() + 1, len(progress["per_period"]))
    for i in range(first, last + 1):
        start = time.perf_counter()
        method.reported_seconds = None
        model = method.serve(i)
        serve_seconds = time.perf_counter() - start
        metrics = ctx.evaluate(model, i + 1)
        start_obs = time.perf_counter()
        method.observe(i)
        wall = serve_seconds + time.perf_counter() - start_obs
        seconds = method.reported_seconds if method.reported_seconds is not None else wall
        row = {"iteration": i, "auc": metrics["auc"], "logloss": metrics["logloss"], "seconds": seconds}
        progress["per_period"].append(row)
        progress["last_iteration"] = i
        progress["extra_state"] = method.extra_state()
        if method.trackables():
            write_checkpoint(state_dir, **method.trackables())
        write_json(progress_path, progress)
        if on_iteration:
            on_iteration(i, row)
    return summarize(progress["per_period"], proto.test_iterations)


def summarize(rows: list[dict], test_iterations) -> dict:
    """Mean AUC / LogLoss over the test iterations (plain mean, docs/method.md §1.4)."""
    tests = [r for r in rows if r["iteration"] in set(test_iterations)]
    n = len(tests)
    return {
        "mean_auc": sum(r["auc"] for r in tests) / n if n else float("nan"),
        "mean_logloss": sum(r["logloss"] for r in tests) / n if n else float("nan"),
        "seconds": sum(r["seconds"] for r in rows),
        "per_period": rows,
    }
