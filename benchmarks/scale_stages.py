"""The stages of ``benchmarks/bench_scale.py``, one per process: ``scale_stages.py STAGE --dir D --users N --seed S``.

Each stage reads what the one before it left in ``D`` (npz arrays and the package's own cache formats, no pickle),
calls the package's real code, and on success writes ``D/<stage>.done.json`` = ``{"seconds", "detail"}`` (atomic):
``seconds`` times the stage's work alone (no interpreter start, no TensorFlow import, no reading of its inputs);
the parent measures the process's wall time and peak RSS around it.

Sizes scale with ``users`` (``sizes``): items = users / 4, events per period = 2 x users, 6 periods (protocol
``Protocol.scaled(6)``: pretrain on periods 1-2, update from 3, test iteration 5).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

from asmg_tf.files import save_npz, write_json  # noqa: E402

NUM_PERIODS = 6
ITEMS_PER_USER = 0.25
EVENTS_PER_USER = 2.0  # per period
METHOD = "asmg_plus"  # the package's default method
PRETRAIN_EPOCHS = 1


def sizes(users: int) -> dict[str, int]:
    """Items and events per period for ``users`` (the ratios of the module docstring)."""
    return {
        "users": users,
        "items": max(1, int(users * ITEMS_PER_USER)),
        "events_per_period": int(users * EVENTS_PER_USER),
        "num_periods": NUM_PERIODS,
    }


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


# -- data ------------------------------------------------------------------------------------------------------------
def stream(d: str, users: int, seed: int) -> tuple[float, dict]:
    """The embedded synthetic stream (``synthetic_stream``) -> ``stream.npz`` (events and item categories)."""
    from asmg_tf.data.synthetic import synthetic_stream

    s = sizes(users)
    inter, seconds = _timed(
        synthetic_stream,
        seed=seed,
        num_users=users,
        num_items=s["items"],
        num_periods=NUM_PERIODS,
        events_per_period=s["events_per_period"],
    )
    ev = inter.events
    cat_items = np.fromiter(inter.item_categories.keys(), dtype=np.int64)
    cat_values = np.array([v[0] for v in inter.item_categories.values()], dtype=np.int64)
    arrays = {c: ev[c].to_numpy() for c in ("user", "item", "timestamp")}
    save_npz(os.path.join(d, "stream.npz"), {**arrays, "cat_items": cat_items, "cat_values": cat_values})
    return seconds, {"events": len(ev), "source": inter.source}


def _interactions(d: str):
    import pandas as pd

    from asmg_tf.data.interactions import Interactions

    with np.load(os.path.join(d, "stream.npz")) as z:
        events = pd.DataFrame({c: z[c] for c in ("user", "item", "timestamp")})
        cats = {int(i): [int(c)] for i, c in zip(z["cat_items"], z["cat_values"])}
    return Interactions(name="synthetic", kind="tmall", events=events, history_granularity="day", item_categories=cats)


def preprocess(d: str, users: int, seed: int) -> tuple[float, dict]:
    """Raw events -> the package's periods, as ``asmg bench`` builds them (``make_period_set``, day split)."""
    from asmg_tf.data.build import make_period_set

    inter = _interactions(d)
    periods, seconds = _timed(make_period_set, inter, split="day", num_periods=NUM_PERIODS, seed=seed)
    save_start = time.perf_counter()
    periods.save(os.path.join(d, "periods"))
    return seconds, {
        "samples": sum(map(len, periods.periods)),
        "num_users": periods.num_users,
        "num_items": periods.num_items,
        "save_seconds": time.perf_counter() - save_start,
    }


# -- training and generation -----------------------------------------------------------------------------------------
def _context(d: str):
    """The bench's ``Context`` over the saved periods, its cache (pretrained model, IU chain) in ``d/train``."""
    from asmg_tf.data.periods import PeriodSet
    from asmg_tf.models.presets import preset
    from asmg_tf.updaters import Context

    periods = PeriodSet.load(os.path.join(d, "periods"))
    config = preset(periods.kind).replace(pretrain_epochs=PRETRAIN_EPOCHS)
    return Context(periods, config, os.path.join(d, "train"), log=_log)


def pretrain(d: str, users: int, seed: int) -> tuple[float, dict]:
    """Pretraining on the pretraining periods (``Context.pretrained``, one epoch)."""
    ctx = _context(d)
    _, seconds = _timed(ctx.pretrained)
    return seconds, {"epochs": PRETRAIN_EPOCHS, "periods": list(ctx.protocol.pretrain_periods)}


def iu_step(d: str, users: int, seed: int) -> tuple[float, dict]:
    """One IU epoch on the first update period (``Context.run_iu_chain``); seconds: the epoch's, as the chain
    records them (restoring the pretrained state is not included)."""
    ctx = _context(d)
    first = ctx.protocol.update_start
    ctx.run_iu_chain(first)
    return ctx.iu_seconds(first), {"period": first, "samples": len(ctx.period(first))}


def _method(ctx):
    from asmg_tf.updaters import make_method

    return make_method(METHOD, ctx)


def meta_train(d: str, users: int, seed: int) -> tuple[float, dict]:
    """One meta-training round of the default method: the IU chain up to its first iteration i (k models), its
    step i (serve), then ``observe(i)`` (timed: the candidates' comparison on period i+1 and one meta-epoch)."""
    from asmg_tf.updaters.step import MethodState, step

    ctx = _context(d)
    method = _method(ctx)
    i = method.first_iteration()
    _, chain_seconds = _timed(ctx.run_iu_chain, i)
    method.start()
    served = step(method, i)
    _, seconds = _timed(method.observe, i)
    MethodState(os.path.join(d, "method")).save(method, i)  # the generator, meta-trained once
    return seconds, {
        "method": METHOD,
        "iteration": i,
        "iu_chain_seconds": chain_seconds,
        "serve_seconds": served.seconds,
        "meta_seconds": method.meta_seconds.get(str(i)),
    }


def generate(d: str, users: int, seed: int) -> tuple[float, dict]:
    """The served model of the meta-trained method (``serve(i)``: read the window's IU models, generate, choose);
    its weights -> ``served.npz`` for the export."""
    from asmg_tf.models.weights import get_weights
    from asmg_tf.updaters.step import MethodState

    ctx = _context(d)
    method = _method(ctx)
    state = MethodState(os.path.join(d, "method"))
    state.load(method)
    i = state.iteration
    model, seconds = _timed(method.serve, i)
    save_npz(os.path.join(d, "served.npz"), get_weights(model))
    if ctx.item_categories is not None:
        save_npz(os.path.join(d, "item_categories.npz"), {"item_categories": ctx.item_categories})
    return seconds, {"iteration": i, "served": method.served.get(str(i))}


def export(d: str, users: int, seed: int) -> tuple[float, dict]:
    """A TF Serving SavedModel of the served model (``serving.export.export_model``, warm-up records included)."""
    from asmg_tf.data.vocab import IdVocabulary
    from asmg_tf.models.weights import load_weights_npz
    from serving.export import export_model, model_from_weights

    vocabulary = IdVocabulary.read(os.path.join(d, "periods", "vocab"))  # the raw ids the version looks up
    with open(os.path.join(d, "train", "iu", "model.json")) as f:
        description = json.load(f)
    model = model_from_weights(load_weights_npz(os.path.join(d, "served.npz")), description)
    cats_path = os.path.join(d, "item_categories.npz")
    cats = None
    if os.path.exists(cats_path):
        with np.load(cats_path) as z:
            cats = z["item_categories"]
    base = os.path.join(d, "export")
    version = len(os.listdir(os.path.join(base, "asmg"))) + 1 if os.path.isdir(os.path.join(base, "asmg")) else 1
    path, seconds = _timed(export_model, model, base, "asmg", version, cats, vocabulary=vocabulary)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)
    return seconds, {"saved_model_mb": size / 2**20}


def pipeline_span(d: str, users: int, seed: int) -> tuple[float, dict]:
    """``asmg pipeline run`` (``LocalPipeline.run``) over spans 1..update_start of the stream cut into span folders;
    seconds: the span of the first update period (the spans before it pretrain). One epoch of pretraining."""
    from pipeline.commands import quiet_logs

    quiet_logs()
    from pipeline.runners.local import LocalPipeline, knobs_from_spans
    from pipeline.spans import write_spans

    spans = os.path.join(d, "spans")
    _, spans_seconds = _timed(write_spans, _interactions(d), spans, split="day", num_periods=NUM_PERIODS, seed=seed)
    lp = LocalPipeline.create(
        os.path.join(d, "pipeline"), knobs_from_spans(spans, pretrain_epochs=PRETRAIN_EPOCHS, sample_seed=seed)
    )
    ran = {t: lp.run(t) for t in range(1, lp.protocol.update_start + 1)}
    return ran[lp.protocol.update_start], {"write_spans_seconds": spans_seconds, "span_seconds": ran}


STAGES = {f.__name__: f for f in (stream, preprocess, pretrain, iu_step, meta_train, generate, export, pipeline_span)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=sorted(STAGES))
    p.add_argument("--dir", required=True)
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.stage not in ("stream", "preprocess"):  # as asmg bench: oneDNN off before TensorFlow loads
        from asmg_tf import determinism

        determinism.prepare()
    seconds, detail = STAGES[args.stage](args.dir, args.users, args.seed)
    write_json(os.path.join(args.dir, f"{args.stage}.done.json"), {"seconds": seconds, "detail": detail})
    return 0


if __name__ == "__main__":
    sys.exit(main())
