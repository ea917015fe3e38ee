"""Run update methods through the protocol, resumably, and collect per-period metrics."""

from __future__ import annotations

import os
from collections.abc import Callable

from asmg_tf.files import write_json
from asmg_tf.updaters import Context, make_method
from asmg_tf.updaters.step import MethodState, open_method, step


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

    Each iteration is the library's one step (``asmg_tf.updaters.step``: observe the previous iteration, serve this
    one, save the method's state atomically), then the served model is scored on the next period and the row is
    written to ``out_dir/methods/<name>/progress.json``; a later call with the same ``out_dir`` resumes after the
    last finished iteration. ``until`` stops after that iteration (e.g. the last warm-up iteration, to select
    settings without touching the test periods). A row's ``seconds`` are its step's (observe i-1 + serve i).
    """
    proto = ctx.protocol
    method = make_method(name, ctx, **(options or {}))
    mdir = os.path.join(out_dir, "methods", name)
    os.makedirs(mdir, exist_ok=True)
    progress_path = os.path.join(mdir, "progress.json")
    state = MethodState(os.path.join(mdir, "state"))
    if os.path.exists(progress_path) and not state.exists():
        raise ValueError(
            f"{mdir} was written by an older asmg (its state was saved after observe, not before): run into a new "
            "--out (the periods, the pretrained model and the IU chain stay cached)"
        )
    # the state holds the rows scored so far, saved with it atomically: the one source of where this run stands
    progress = state.record if open_method(method, state) else {"per_period": [], "last_iteration": None}
    first = method.first_iteration() if progress["last_iteration"] is None else progress["last_iteration"] + 1
    last = proto.test_end if until is None else min(until, proto.test_end)
    if method.uses_iu_chain:  # an explicit stage (cached, resumable), never a side effect of reading a model
        ctx.run_iu_chain(last)
    if on_start:  # (iterations this method serves, iterations already done)
        on_start(last - method.first_iteration() + 1, len(progress["per_period"]))
    for i in range(first, last + 1):
        result = step(method, i)
        metrics = ctx.evaluate(result.model, i + 1)
        row = {"iteration": i, "auc": metrics["auc"], "logloss": metrics["logloss"], "seconds": result.seconds}
        progress["per_period"].append(row)
        progress["last_iteration"] = i
        state.save(method, i, record=progress)
        write_json(progress_path, {**progress, "extra_state": method.extra_state()})  # a readable copy
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
